package content

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/internal/errdefs"
)

// Writer ingests one blob. Bytes go to ingest/<hex>/data; Commit checks
// size and digest, fsyncs and renames into blobs/. Close without Commit
// keeps the partial data so the next Writer for the same digest resumes.
// Only one Writer per digest exists at a time: a second caller waits, so
// concurrent pulls of the same layer download it once.
type Writer struct {
	s        *Store
	want     digest.Digest
	size     int64 // expected, -1 unknown
	dir      string
	f        *os.File
	h        hash.Hash
	offset   int64
	release  func()
	finished bool
}

type ingestMeta struct {
	Digest  digest.Digest `json:"digest"`
	Size    int64         `json:"size"`
	Started time.Time     `json:"started"`
}

// Writer opens an ingest for want (size -1 when unknown). It returns an
// AlreadyExists error when the blob is committed already, including when
// another writer commits it while this call waits its turn.
func (s *Store) Writer(ctx context.Context, want digest.Digest, size int64) (*Writer, error) {
	blob, err := s.blobPath(want)
	if err != nil {
		return nil, err
	}
	release, err := s.lock(ctx, want)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			release()
		}
	}()
	if _, err := os.Stat(blob); err == nil {
		return nil, errdefs.AlreadyExists("content %s: already exists", want)
	}
	dir := filepath.Join(s.root, "ingest", want.Algorithm().String()+"-"+want.Encoded())
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ingest %s: %w", want, err)
	}
	meta, _ := json.Marshal(ingestMeta{Digest: want, Size: size, Started: time.Now()})
	if err := os.WriteFile(filepath.Join(dir, "meta"), meta, 0o600); err != nil {
		return nil, fmt.Errorf("ingest %s: %w", want, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "data"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("ingest %s: %w", want, err)
	}
	w := &Writer{s: s, want: want, size: size, dir: dir, f: f, h: want.Algorithm().Hash(), release: release}
	// Resume: rehash what an earlier, interrupted writer left. A prefix
	// longer than the expected size cannot be right.
	n, err := io.Copy(w.h, f)
	if err != nil || (size >= 0 && n > size) {
		if err := w.Truncate(0); err != nil {
			f.Close()
			return nil, err
		}
		n = 0
	}
	w.offset = n
	ok = true
	return w, nil
}

// lock waits until no other writer holds want.
func (s *Store) lock(ctx context.Context, want digest.Digest) (func(), error) {
	for {
		s.mu.Lock()
		ch, busy := s.writers[want]
		if !busy {
			ch = make(chan struct{})
			s.writers[want] = ch
			s.mu.Unlock()
			return func() {
				s.mu.Lock()
				delete(s.writers, want)
				s.mu.Unlock()
				close(ch)
			}, nil
		}
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for another download of %s: %w", want, ctx.Err())
		}
	}
}

// Busy reports whether a writer is active for d (GC leaves its ingest alone).
func (s *Store) Busy(d digest.Digest) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.writers[d]
	return ok
}

// Offset is how many bytes are already present (resumed from an earlier try).
func (w *Writer) Offset() int64 { return w.offset }

// Digest is the digest the writer expects.
func (w *Writer) Digest() digest.Digest { return w.want }

// Prefix reads the bytes already present, for consumers (unpack) that must
// see the whole blob while the rest is downloaded.
func (w *Writer) Prefix() io.Reader { return io.NewSectionReader(w.f, 0, w.offset) }

// Truncate drops the data from off on (restart after a server ignored a
// range request).
func (w *Writer) Truncate(off int64) error {
	if off != 0 {
		return errdefs.InvalidArgument("ingest %s: can only restart from 0", w.want)
	}
	if err := w.f.Truncate(0); err != nil {
		return fmt.Errorf("ingest %s: %w", w.want, err)
	}
	if _, err := w.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	w.h.Reset()
	w.offset = 0
	return nil
}

// Write appends p, refusing to grow past the expected size.
func (w *Writer) Write(p []byte) (int, error) {
	if w.size >= 0 && w.offset+int64(len(p)) > w.size {
		return 0, errdefs.InvalidArgument("content %s: more than the expected %d bytes", w.want, w.size)
	}
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.offset += int64(n)
	if err != nil {
		return n, fmt.Errorf("ingest %s: %w", w.want, err)
	}
	return n, nil
}

// Commit verifies the blob and moves it into place. On a mismatch the
// partial data is discarded (it can never become right).
func (w *Writer) Commit() error {
	if w.finished {
		return errdefs.FailedPrecondition("ingest %s: already finished", w.want)
	}
	got := digest.NewDigest(w.want.Algorithm(), w.h)
	if (w.size >= 0 && w.offset != w.size) || got != w.want {
		w.discard()
		if w.size >= 0 && w.offset != w.size {
			return errdefs.InvalidArgument("content %s: got %d bytes, want %d", w.want, w.offset, w.size)
		}
		return errdefs.InvalidArgument("content digest mismatch: got %s, want %s", got, w.want)
	}
	if !w.s.NoSync {
		if err := w.f.Sync(); err != nil {
			return fmt.Errorf("ingest %s: %w", w.want, err)
		}
	}
	blob, _ := w.s.blobPath(w.want)
	if err := os.MkdirAll(filepath.Dir(blob), 0o700); err != nil {
		return err
	}
	if err := os.Chmod(w.f.Name(), 0o444); err != nil {
		return err
	}
	if err := os.Rename(w.f.Name(), blob); err != nil {
		return fmt.Errorf("commit %s: %w", w.want, err)
	}
	if !w.s.NoSync {
		syncDir(filepath.Dir(blob))
	}
	w.discard()
	return nil
}

// Close releases the writer; uncommitted data stays for a resume.
func (w *Writer) Close() error {
	if !w.finished {
		w.finished = true
		w.f.Close()
		w.release()
	}
	return nil
}

// Discard releases the writer and throws its data away.
func (w *Writer) Discard() { w.discard() }

func (w *Writer) discard() {
	if w.finished {
		return
	}
	w.finished = true
	w.f.Close()
	os.RemoveAll(w.dir)
	w.release()
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// Ingest describes partial data left by an interrupted download.
type Ingest struct {
	Digest  digest.Digest
	Offset  int64
	Updated time.Time
}

// Ingests lists partial downloads that no writer holds.
func (s *Store) Ingests() ([]Ingest, error) {
	entries, err := os.ReadDir(filepath.Join(s.root, "ingest"))
	if err != nil {
		return nil, err
	}
	var out []Ingest
	for _, e := range entries {
		dir := filepath.Join(s.root, "ingest", e.Name())
		b, err := os.ReadFile(filepath.Join(dir, "meta"))
		var m ingestMeta
		if err != nil || json.Unmarshal(b, &m) != nil || m.Digest.Validate() != nil {
			// A writer died before writing meta: nothing to resume.
			out = append(out, Ingest{Digest: digest.Digest("invalid:" + e.Name())})
			continue
		}
		if s.Busy(m.Digest) {
			continue
		}
		in := Ingest{Digest: m.Digest}
		if st, err := os.Stat(filepath.Join(dir, "data")); err == nil {
			in.Offset, in.Updated = st.Size(), st.ModTime()
		}
		out = append(out, in)
	}
	return out, nil
}

// AbortIngest removes a partial download that no writer holds.
func (s *Store) AbortIngest(d digest.Digest) error {
	if s.Busy(d) {
		return errdefs.Conflict("ingest %s: in use", d)
	}
	name := d.Algorithm().String() + "-" + d.Encoded()
	if a, ok := strings.CutPrefix(string(d), "invalid:"); ok {
		name = a
	}
	if filepath.Base(name) != name || name == "." || name == ".." {
		return errdefs.InvalidArgument("ingest %q: bad name", name)
	}
	err := os.RemoveAll(filepath.Join(s.root, "ingest", name))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// OpenReader opens the ingest data for reading while it is being written
// (unpack follows a download this way). The handle stays valid after
// Commit renames the file.
func (w *Writer) OpenReader() (*os.File, error) { return os.Open(w.f.Name()) }
