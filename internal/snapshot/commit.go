package snapshot

import (
	"context"
	"fmt"
	"maps"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/berth-dev/berth/internal/errdefs"
)

func (c *core) Commit(ctx context.Context, name, key string, labels map[string]string) error {
	return c.commit(ctx, name, key, "", false, labels)
}

// commit commits key as name; with rebase, the snapshot (prepared without
// a parent) is committed on top of parent.
func (c *core) commit(ctx context.Context, name, key, parent string, rebase bool, labels map[string]string) error {
	if err := checkKey(name); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	check := func(m meta) (record, error) {
		r, err := mustGet(m, key)
		if err != nil {
			return r, err
		}
		if r.Kind != KindActive {
			return r, errdefs.FailedPrecondition("commit %q: snapshot is %s, only active snapshots can be committed", key, r.Kind)
		}
		if rebase {
			if r.Parent != "" {
				return r, errdefs.FailedPrecondition("commit %q onto %q: the snapshot already has parent %q", key, parent, r.Parent)
			}
			if parent != "" {
				p, ok, err := m.get(parent)
				if err != nil {
					return r, err
				}
				if !ok {
					return r, errdefs.NotFound("commit %q: parent %q not found", key, parent)
				}
				if p.Kind != KindCommitted {
					return r, errdefs.FailedPrecondition("commit %q: parent %q is %s, not committed", key, parent, p.Kind)
				}
			}
		}
		if name != key {
			if _, ok, err := m.get(name); err != nil {
				return r, err
			} else if ok {
				return r, errdefs.AlreadyExists("commit %q: snapshot %q already exists", key, name)
			}
		}
		return r, nil
	}
	var r record
	if err := c.db.View(func(tx *bolt.Tx) (err error) {
		r, err = check(meta{tx})
		return err
	}); err != nil {
		return err
	}
	// Measured once here: a committed snapshot never changes again.
	u, err := dirUsage(ctx, c.fsDir(r.ID))
	if err != nil {
		return fmt.Errorf("commit %q: %w", key, err)
	}
	// Layers are written without fsync (an unpack would crawl); once the
	// record says committed, a power cut must not leave truncated files.
	if c.deferSync {
		// The caller flushes later.
	} else if err := syncFS(c.fsDir(r.ID)); err != nil {
		return fmt.Errorf("commit %q: %w", key, err)
	}
	return c.db.Update(func(tx *bolt.Tx) error {
		m := meta{tx}
		again, err := check(m)
		if err != nil {
			return err
		}
		if again.ID != r.ID {
			return errdefs.Conflict("commit %q: snapshot was replaced while it was measured", key)
		}
		if err := m.delete(key, r); err != nil {
			return err
		}
		now := time.Now().UTC()
		r.Kind, r.Created, r.Updated = KindCommitted, now, now
		if rebase {
			r.Parent = parent
		}
		r.Size, r.Inodes = u.Size, u.Inodes
		if labels != nil {
			r.Labels = maps.Clone(labels)
		}
		return m.put(name, r)
	})
}
