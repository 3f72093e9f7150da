// Package content is Berth's content-addressable blob store: blobs live
// under blobs/<alg>/<hex>, reach it only through a Writer that verifies
// every byte against the expected digest, and partial downloads survive
// for a later resume.
package content

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	_ "crypto/sha256"
	_ "crypto/sha512"

	"github.com/berth-dev/berth/internal/errdefs"
)

// Info describes a committed blob.
type Info struct {
	Digest    digest.Digest
	Size      int64
	CreatedAt time.Time
}

// Store is a blob store rooted at a directory.
type Store struct {
	root string
	// NoSync skips the fsync of each committed blob; the owner then
	// flushes the filesystem before relying on blobs surviving a power
	// cut (berthd does, once per pull).
	NoSync bool

	mu      sync.Mutex
	writers map[digest.Digest]chan struct{} // closed when the active writer lets go
}

// Open creates the store's directories under root if needed.
func Open(root string) (*Store, error) {
	for _, d := range []string{"blobs", "ingest"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			return nil, fmt.Errorf("content store: %w", err)
		}
	}
	return &Store{root: root, writers: map[digest.Digest]chan struct{}{}}, nil
}

func (s *Store) blobPath(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", errdefs.InvalidArgument("invalid digest %q: %v", d, err)
	}
	return filepath.Join(s.root, "blobs", d.Algorithm().String(), d.Encoded()), nil
}

// BlobPath is where a committed blob lives (for zero-copy readers such as
// sendfile in exports). The caller must not write to it.
func (s *Store) BlobPath(d digest.Digest) (string, error) { return s.blobPath(d) }

// Info returns the blob's size and commit time, or NotFound.
func (s *Store) Info(_ context.Context, d digest.Digest) (Info, error) {
	p, err := s.blobPath(d)
	if err != nil {
		return Info{}, err
	}
	st, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Info{}, errdefs.NotFound("content %s: not found", d)
		}
		return Info{}, fmt.Errorf("content %s: %w", d, err)
	}
	return Info{Digest: d, Size: st.Size(), CreatedAt: st.ModTime()}, nil
}

// Open returns a reader of a committed blob.
func (s *Store) Open(_ context.Context, d digest.Digest) (*os.File, error) {
	p, err := s.blobPath(d)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errdefs.NotFound("content %s: not found", d)
		}
		return nil, fmt.Errorf("content %s: %w", d, err)
	}
	return f, nil
}

// ReadBlob reads a whole (small) blob, such as a manifest or config, with a
// size cap so a hostile blob cannot exhaust memory.
func (s *Store) ReadBlob(ctx context.Context, d digest.Digest, max int64) ([]byte, error) {
	f, err := s.Open(ctx, d)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > max {
		return nil, errdefs.InvalidArgument("content %s: %d bytes exceeds the %d-byte limit", d, st.Size(), max)
	}
	return io.ReadAll(f)
}

// Delete removes a committed blob.
func (s *Store) Delete(_ context.Context, d digest.Digest) error {
	p, err := s.blobPath(d)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return errdefs.NotFound("content %s: not found", d)
		}
		return fmt.Errorf("delete content %s: %w", d, err)
	}
	return nil
}

// Walk calls fn for every committed blob.
func (s *Store) Walk(_ context.Context, fn func(Info) error) error {
	algs, err := os.ReadDir(filepath.Join(s.root, "blobs"))
	if err != nil {
		return err
	}
	for _, a := range algs {
		entries, err := os.ReadDir(filepath.Join(s.root, "blobs", a.Name()))
		if err != nil {
			return err
		}
		for _, e := range entries {
			d := digest.NewDigestFromEncoded(digest.Algorithm(a.Name()), e.Name())
			if d.Validate() != nil {
				continue // not ours; leave it for a human
			}
			fi, err := e.Info()
			if err != nil {
				continue // removed meanwhile
			}
			if err := fn(Info{Digest: d, Size: fi.Size(), CreatedAt: fi.ModTime()}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Put stores b under its own digest (manifests and configs built or
// fetched whole). It is a no-op when the blob exists.
func (s *Store) Put(ctx context.Context, want digest.Digest, b []byte) error {
	w, err := s.Writer(ctx, want, int64(len(b)))
	if errdefs.IsAlreadyExists(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer w.Close()
	if w.Offset() > 0 {
		if err := w.Truncate(0); err != nil {
			return err
		}
	}
	if _, err := w.Write(b); err != nil {
		return err
	}
	return w.Commit()
}
