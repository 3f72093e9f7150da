package snapshot

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// recover makes snapshots/ match the metadata after a crash: a half-filled
// new- dir or an id dir whose transaction never committed is deleted, the
// trash of a finished remove is deleted, and the trash of a remove whose
// transaction never committed is put back.
func (c *core) recover() error {
	live := map[uint64]string{}
	if err := c.db.View(func(tx *bolt.Tx) error {
		return meta{tx}.forEach(func(name string, r record) error {
			live[r.ID] = name
			return nil
		})
	}); err != nil {
		return fmt.Errorf("read snapshot metadata: %w", err)
	}
	entries, err := os.ReadDir(c.snapshotsDir())
	if err != nil {
		return fmt.Errorf("read snapshots: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if id, err := strconv.ParseUint(name, 10, 64); err == nil && live[id] != "" {
			continue
		}
		if rest, ok := strings.CutPrefix(name, "rm-"); ok {
			id, err := strconv.ParseUint(rest, 10, 64)
			if err == nil && live[id] != "" {
				if _, err := os.Lstat(c.dir(id)); errors.Is(err, os.ErrNotExist) {
					slog.Info("restoring snapshot whose removal did not complete", "key", live[id])
					if err := os.Rename(filepath.Join(c.snapshotsDir(), name), c.dir(id)); err != nil {
						return fmt.Errorf("restore snapshot %q: %w", live[id], err)
					}
					continue
				}
			}
		}
		slog.Info("deleting leftover snapshot directory", "dir", name)
		if err := os.RemoveAll(filepath.Join(c.snapshotsDir(), name)); err != nil {
			return fmt.Errorf("delete leftover snapshot directory: %w", err)
		}
	}
	for id, name := range live {
		if _, err := os.Lstat(c.dir(id)); err != nil {
			slog.Warn("snapshot has no directory", "key", name, "dir", c.dir(id), "err", err)
		}
	}
	return nil
}
