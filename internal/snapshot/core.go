package snapshot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
)

// driver is what differs between implementations; core does the rest.
type driver interface {
	// fill readies a new snapshot's directory dir (created empty, 0700).
	// parents are the fs directories of the committed parent chain,
	// nearest first.
	fill(ctx context.Context, dir string, kind Kind, parents []string) error
	// mounts gives the mounts of a view or active snapshot.
	mounts(kind Kind, dir string, parents []string) []Mount
	whiteoutMode() WhiteoutMode
}

// core keeps the metadata and directories common to every implementation.
//
// Layout under root:
//
//	metadata.db          bbolt: names, parents, kinds, labels, ids
//	snapshots/<id>/fs    the snapshot's own filesystem (upper dir or full copy)
//	snapshots/<id>/work  overlayfs work dir (overlay only)
//	snapshots/new-*      a snapshot being filled, not yet in metadata
//	snapshots/rm-<id>    a snapshot being deleted
//
// Ids are never reused, so a directory name means one snapshot for ever,
// and anything in snapshots/ without a record is garbage that Open removes.
type core struct {
	root string
	db   *bolt.DB
	drv  driver

	closeOnce sync.Once
	closeErr  error
	// trash: deletions of removed snapshots' directories, which go on in
	// the background (Close waits for them; Open deletes what a stop cut
	// short).
	trash sync.WaitGroup
	// deferSync leaves flushing committed layers to the caller (see
	// DeferSync).
	deferSync bool
}

func openCore(root string, drv driver) (*core, error) {
	if !filepath.IsAbs(root) {
		return nil, errdefs.InvalidArgument("snapshot root %q is not an absolute path", root)
	}
	if err := os.MkdirAll(filepath.Join(root, "snapshots"), 0o700); err != nil {
		return nil, fmt.Errorf("snapshot root: %w", err)
	}
	// The timeout turns a second daemon on the same root into an error
	// instead of a hang on the database's file lock.
	db, err := bolt.Open(filepath.Join(root, "metadata.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: snapshot metadata in %s is locked by another process", errdefs.ErrUnavailable, root)
	}
	if err != nil {
		return nil, fmt.Errorf("open snapshot metadata in %s: %w", root, err)
	}
	c := &core{root: root, db: db, drv: drv}
	if err := db.Update(initMeta); err != nil {
		db.Close()
		return nil, fmt.Errorf("init snapshot metadata: %w", err)
	}
	if err := c.recover(); err != nil {
		db.Close()
		return nil, err
	}
	return c, nil
}

func (c *core) snapshotsDir() string { return filepath.Join(c.root, "snapshots") }
func (c *core) dir(id uint64) string {
	return filepath.Join(c.snapshotsDir(), strconv.FormatUint(id, 10))
}
func (c *core) fsDir(id uint64) string { return filepath.Join(c.dir(id), "fs") }

func (c *core) fsDirs(chain []record) []string {
	out := make([]string, len(chain))
	for i, r := range chain {
		out[i] = c.fsDir(r.ID)
	}
	return out
}

func checkKey(key string) error {
	if key == "" {
		return errdefs.InvalidArgument("snapshot key is empty")
	}
	if strings.IndexByte(key, 0) >= 0 {
		return errdefs.InvalidArgument("snapshot key %q contains a NUL byte", key)
	}
	return nil
}

// mustGet returns the record of key or a NotFound error naming it.
func mustGet(m meta, key string) (record, error) {
	r, ok, err := m.get(key)
	if err != nil {
		return record{}, err
	}
	if !ok {
		return record{}, errdefs.NotFound("snapshot %q not found", key)
	}
	return r, nil
}

// isClassified reports errors that already say what went wrong and name
// the key, so they are returned without another wrap.
func isClassified(err error) bool {
	for _, class := range []error{errdefs.ErrNotFound, errdefs.ErrAlreadyExists, errdefs.ErrFailedPrecondition, errdefs.ErrConflict, errdefs.ErrInvalidArgument} {
		if errors.Is(err, class) {
			return true
		}
	}
	return false
}

func (c *core) Stat(ctx context.Context, key string) (Info, error) {
	var info Info
	err := c.db.View(func(tx *bolt.Tx) error {
		r, err := mustGet(meta{tx}, key)
		info = r.info(key)
		return err
	})
	return info, err
}

func (c *core) Mounts(ctx context.Context, key string) ([]Mount, error) {
	var ms []Mount
	err := c.db.View(func(tx *bolt.Tx) error {
		m := meta{tx}
		r, err := mustGet(m, key)
		if err != nil {
			return err
		}
		if r.Kind == KindCommitted {
			return errdefs.FailedPrecondition("snapshot %q is committed: mount a view of it", key)
		}
		chain, err := m.chain(r.Parent)
		if err != nil {
			return fmt.Errorf("mounts of %q: %w", key, err)
		}
		ms = c.drv.mounts(r.Kind, c.dir(r.ID), c.fsDirs(chain))
		return nil
	})
	return ms, err
}

// Walk reads every record first and calls fn outside the transaction, so
// fn may call back into the snapshotter.
func (c *core) Walk(ctx context.Context, fn func(Info) error) error {
	var infos []Info
	if err := c.db.View(func(tx *bolt.Tx) error {
		return meta{tx}.forEach(func(name string, r record) error {
			infos = append(infos, r.info(name))
			return nil
		})
	}); err != nil {
		return err
	}
	for _, info := range infos {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(info); err != nil {
			return err
		}
	}
	return nil
}

func (c *core) Usage(ctx context.Context, key string) (Usage, error) {
	var r record
	if err := c.db.View(func(tx *bolt.Tx) (err error) {
		r, err = mustGet(meta{tx}, key)
		return err
	}); err != nil {
		return Usage{}, err
	}
	if r.Kind == KindCommitted {
		return Usage{Size: r.Size, Inodes: r.Inodes}, nil
	}
	u, err := dirUsage(ctx, c.fsDir(r.ID))
	if err != nil {
		return Usage{}, fmt.Errorf("usage of %q: %w", key, err)
	}
	return u, nil
}

// UpperDir returns the writable directory of the active snapshot key.
func (c *core) UpperDir(ctx context.Context, key string) (string, error) {
	var r record
	if err := c.db.View(func(tx *bolt.Tx) (err error) {
		r, err = mustGet(meta{tx}, key)
		return err
	}); err != nil {
		return "", err
	}
	if r.Kind != KindActive {
		return "", errdefs.FailedPrecondition("snapshot %q is %s: only an active snapshot has a writable directory", key, r.Kind)
	}
	return c.fsDir(r.ID), nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// syncFS flushes the whole filesystem holding path: one call instead of an
// fsync per file of a layer.
func syncFS(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return &os.PathError{Op: "syncfs", Path: path, Err: err}
	}
	return nil
}

// WhiteoutMode says how deletions are written into UpperDir.
func (c *core) WhiteoutMode() WhiteoutMode { return c.drv.whiteoutMode() }

// Settle waits until the directories of removed snapshots are deleted.
func (c *core) Settle() { c.trash.Wait() }

// Close closes the metadata database; it is safe to call more than once.
func (c *core) Close() error {
	c.closeOnce.Do(func() {
		c.trash.Wait()
		c.closeErr = c.db.Close()
	})
	return c.closeErr
}

// DeferSync makes Commit skip its syncfs: the caller promises to flush
// the filesystem itself before it relies on the layer surviving a power
// cut (berthd syncs once per pull, off the critical path, and forgets
// images whose sync a crash interrupted).
func (c *core) DeferSync() { c.deferSync = true }
