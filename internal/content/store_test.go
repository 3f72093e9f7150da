package content

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/internal/errdefs"
)

func newStore(t *testing.T) *Store {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestWriteCommitRead(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	data := bytes.Repeat([]byte("layer"), 1000)
	d := digest.FromBytes(data)
	w, err := s.Writer(ctx, d, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data[:100])
	w.Write(data[100:])
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	info, err := s.Info(ctx, d)
	if err != nil || info.Size != int64(len(data)) {
		t.Fatalf("info %+v %v", info, err)
	}
	got, err := s.ReadBlob(ctx, d, 1<<20)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %v", err)
	}
	if _, err := s.ReadBlob(ctx, d, 10); !errdefs.IsInvalidArgument(err) {
		t.Errorf("size cap: %v", err)
	}
	if _, err := s.Writer(ctx, d, -1); !errdefs.IsAlreadyExists(err) {
		t.Errorf("second writer: %v", err)
	}
	var n int
	s.Walk(ctx, func(i Info) error { n++; return nil })
	if n != 1 {
		t.Errorf("walk saw %d blobs", n)
	}
	if err := s.Delete(ctx, d); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Info(ctx, d); !errdefs.IsNotFound(err) {
		t.Errorf("after delete: %v", err)
	}
}

func TestVerification(t *testing.T) {
	ctx := context.Background()
	data := []byte("hello world")
	d := digest.FromBytes(data)
	tests := []struct {
		name  string
		size  int64
		write []byte
		want  string
	}{
		{"wrong bytes", int64(len(data)), []byte("hello WORLD"), "digest mismatch"},
		{"short", int64(len(data)), data[:5], "got 5 bytes, want 11"},
		{"unknown size wrong bytes", -1, []byte("nope"), "digest mismatch"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			w, err := s.Writer(ctx, d, tc.size)
			if err != nil {
				t.Fatal(err)
			}
			w.Write(tc.write)
			err = w.Commit()
			if !errdefs.IsInvalidArgument(err) || !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
				t.Fatalf("commit: %v, want %q", err, tc.want)
			}
			if _, err := s.Info(ctx, d); !errdefs.IsNotFound(err) {
				t.Errorf("bad blob committed: %v", err)
			}
			if in, _ := s.Ingests(); len(in) != 0 {
				t.Errorf("ingest left behind: %+v", in)
			}
		})
	}
	s := newStore(t)
	w, _ := s.Writer(ctx, d, int64(len(data)))
	if _, err := w.Write(append(data, 'x')); !errdefs.IsInvalidArgument(err) {
		t.Errorf("oversize write: %v", err)
	}
	w.Discard()
	if _, err := s.Writer(ctx, "sha256:nothex", 1); !errdefs.IsInvalidArgument(err) {
		t.Errorf("bad digest: %v", err)
	}
}

func TestResume(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	data := bytes.Repeat([]byte("0123456789"), 100)
	d := digest.FromBytes(data)
	w, _ := s.Writer(ctx, d, int64(len(data)))
	w.Write(data[:300])
	w.Close() // interrupted
	in, err := s.Ingests()
	if err != nil || len(in) != 1 || in[0].Offset != 300 {
		t.Fatalf("ingests %+v %v", in, err)
	}
	w, err = s.Writer(ctx, d, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if w.Offset() != 300 {
		t.Fatalf("offset %d", w.Offset())
	}
	var prefix bytes.Buffer
	prefix.ReadFrom(w.Prefix())
	if !bytes.Equal(prefix.Bytes(), data[:300]) {
		t.Fatal("prefix differs")
	}
	w.Write(data[300:])
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if in, _ := s.Ingests(); len(in) != 0 {
		t.Errorf("ingest left: %+v", in)
	}
}

func TestConcurrentWritersDedup(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	data := bytes.Repeat([]byte("x"), 4096)
	d := digest.FromBytes(data)
	var wrote atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, err := s.Writer(ctx, d, int64(len(data)))
			if errdefs.IsAlreadyExists(err) {
				return
			}
			if err != nil {
				t.Error(err)
				return
			}
			defer w.Close()
			wrote.Add(1)
			w.Write(data)
			if err := w.Commit(); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wrote.Load() != 1 {
		t.Errorf("%d writers downloaded the blob, want 1", wrote.Load())
	}
}

func TestWaitHonoursContext(t *testing.T) {
	s := newStore(t)
	d := digest.FromString("x")
	w, _ := s.Writer(context.Background(), d, 1)
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Writer(ctx, d, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v", err)
	}
	if err := s.AbortIngest(d); !errdefs.IsConflict(err) {
		t.Errorf("abort of busy ingest: %v", err)
	}
}
