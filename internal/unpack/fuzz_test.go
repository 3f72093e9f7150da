package unpack

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/unpack/compress"
)

// FuzzApply feeds arbitrary bytes to the layer parser and extractor. Its
// corpus (testdata/fuzz/FuzzApply) holds the hostile layers and a few
// well-formed ones. Whatever the input, nothing may change outside the root
// and any failure must be classed as bad input.
//
//	go test -run '^$' -fuzz FuzzApply ./internal/unpack/
func FuzzApply(f *testing.F) {
	f.Add(mkTar(f, file("a", "a"), dir("d/"), symlink("d/l", "/"), file("d/l/x", "x")), false)
	f.Add(mkTar(f, file(".wh.a", ""), file("b/.wh..wh..opq", "")), true)
	f.Fuzz(func(t *testing.T, data []byte, overlay bool) {
		if os.Geteuid() != 0 {
			t.Skip("needs root: extracts device nodes and ownership")
		}
		mode := WhiteoutDelete
		if overlay {
			mode = WhiteoutOverlay
		}
		base := t.TempDir()
		// hostileRunIn checks the sentinel, the root's neighbours and /etc.
		root, err := fuzzRun(t, base, data, mode)
		if err == nil {
			if _, serr := snapshot(root); serr != nil {
				t.Errorf("applied tree cannot be walked: %v", serr)
			}
			return
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return // a decompression or sparse bomb: bounded by the context
		}
		if !errdefs.IsInvalidArgument(err) && !errdefs.IsNotImplemented(err) {
			t.Errorf("error not classed as bad input: %v", err)
		}
	})
}

func fuzzRun(t *testing.T, base string, data []byte, mode WhiteoutMode) (string, error) {
	t.Helper()
	return hostileRunWith(t, base, func(root string) (err error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		inJail(func() {
			_, err = Apply(ctx, root, bytes.NewReader(data), "", Options{Whiteouts: mode, Decompress: compress.Decompress})
		})
		return err
	})
}
