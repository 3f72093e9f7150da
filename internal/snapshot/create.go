package snapshot

import (
	"context"
	"fmt"
	"maps"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/berth-dev/berth/internal/errdefs"
)

// checkNew checks that key is free and parent committed, and returns the
// parent chain.
func checkNew(m meta, key, parent string) ([]record, error) {
	if _, ok, err := m.get(key); err != nil {
		return nil, err
	} else if ok {
		return nil, errdefs.AlreadyExists("snapshot %q already exists", key)
	}
	if parent == "" {
		return nil, nil
	}
	p, ok, err := m.get(parent)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errdefs.NotFound("parent %q of snapshot %q not found", parent, key)
	}
	if p.Kind != KindCommitted {
		return nil, errdefs.FailedPrecondition("parent %q of snapshot %q is %s, not committed", parent, key, p.Kind)
	}
	return m.chain(parent)
}

func (c *core) Prepare(ctx context.Context, key, parent string, labels map[string]string) ([]Mount, error) {
	return c.create(ctx, KindActive, key, parent, labels)
}

func (c *core) View(ctx context.Context, key, parent string, labels map[string]string) ([]Mount, error) {
	return c.create(ctx, KindView, key, parent, labels)
}

// create fills the new snapshot's directory under a temporary name outside
// any transaction (a native copy can take long, and the database allows
// one writer), then records it and renames the directory in one transaction.
func (c *core) create(ctx context.Context, kind Kind, key, parent string, labels map[string]string) ([]Mount, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var chain []record
	if err := c.db.View(func(tx *bolt.Tx) (err error) {
		chain, err = checkNew(meta{tx}, key, parent)
		return err
	}); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(c.snapshotsDir(), "new-")
	if err != nil {
		return nil, fmt.Errorf("create snapshot %q: %w", key, err)
	}
	if err := c.drv.fill(ctx, tmp, kind, c.fsDirs(chain)); err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("create snapshot %q: %w", key, err)
	}
	now := time.Now().UTC()
	final := ""
	err = c.db.Update(func(tx *bolt.Tx) error {
		m := meta{tx}
		again, err := checkNew(m, key, parent)
		if err != nil {
			return err
		}
		// The parent was removed and made anew while we filled.
		if len(again) > 0 && again[0].ID != chain[0].ID {
			return errdefs.Conflict("parent %q of snapshot %q changed while it was prepared", parent, key)
		}
		id, err := m.nextID()
		if err != nil {
			return err
		}
		r := record{ID: id, Parent: parent, Kind: kind, Labels: maps.Clone(labels), Created: now, Updated: now}
		if err := m.put(key, r); err != nil {
			return err
		}
		if err := os.Rename(tmp, c.dir(id)); err != nil {
			return err
		}
		final = c.dir(id)
		if kind == KindActive && labels[LabelEphemeral] != "" {
			return nil
		}
		// The record must not outlive a rename lost in a crash.
		return syncDir(c.snapshotsDir())
	})
	if err != nil {
		// If the rename happened but the commit failed, the id dir has no
		// record; remove it now rather than at the next Open.
		os.RemoveAll(tmp)
		if final != "" {
			os.RemoveAll(final)
		}
		if isClassified(err) {
			return nil, err
		}
		return nil, fmt.Errorf("create snapshot %q: %w", key, err)
	}
	return c.drv.mounts(kind, final, c.fsDirs(chain)), nil
}
