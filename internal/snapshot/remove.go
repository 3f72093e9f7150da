package snapshot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"

	bolt "go.etcd.io/bbolt"

	"github.com/berth-dev/berth/internal/errdefs"
)

// Remove drops the record and renames the directory to its trash name in
// one transaction, then deletes the trash in the background. A crash before the commit is
// undone by Open (the rm- dir of a live record is renamed back); one after
// it leaves only trash, which Open deletes.
func (c *core) Remove(ctx context.Context, key string) error {
	var trash string
	var id uint64
	err := c.db.Update(func(tx *bolt.Tx) error {
		m := meta{tx}
		r, err := mustGet(m, key)
		if err != nil {
			return err
		}
		if child, ok := m.child(key); ok {
			return errdefs.Conflict("remove %q: snapshot has child %q", key, child)
		}
		if err := m.delete(key, r); err != nil {
			return err
		}
		id = r.ID
		to := filepath.Join(c.snapshotsDir(), "rm-"+strconv.FormatUint(r.ID, 10))
		switch err := os.Rename(c.dir(r.ID), to); {
		case err == nil:
			trash = to
		case errors.Is(err, os.ErrNotExist):
			slog.Warn("snapshot directory already gone", "key", key, "dir", c.dir(r.ID))
		default:
			return fmt.Errorf("remove %q: %w", key, err)
		}
		return nil
	})
	if err != nil {
		if trash != "" {
			if rerr := os.Rename(trash, c.dir(id)); rerr != nil {
				slog.Warn("restore snapshot directory after failed remove", "key", key, "err", rerr)
			}
		}
		return err
	}
	if trash != "" {
		// The snapshot is gone either way: its directory goes off the
		// caller's path (a container's writable layer can hold many
		// files), and leftovers are Open's to delete.
		c.trash.Go(func() {
			if err := os.RemoveAll(trash); err != nil {
				slog.Warn("delete removed snapshot's directory", "key", key, "dir", trash, "err", err)
			}
		})
	}
	return nil
}
