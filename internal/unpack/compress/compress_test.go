package compress

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/berth-dev/berth/internal/errdefs"
)

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func zst(t testing.TB, b []byte) []byte {
	t.Helper()
	w, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	return w.EncodeAll(b, nil)
}

func TestDecompress(t *testing.T) {
	plain := []byte(strings.Repeat("layer bytes ", 1000))
	tests := []struct {
		name    string
		in      []byte
		wantErr error
	}{
		{"plain", plain, nil},
		{"gzip", gz(t, plain), nil},
		{"gzip multistream", append(gz(t, plain[:100]), gz(t, plain[100:])...), nil},
		{"zstd", zst(t, plain), nil},
		{"empty", nil, nil},
		{"short", []byte{0x1f}, nil},
		{"xz", []byte{0xfd, '7', 'z', 'X', 'Z', 0, 1, 2}, errdefs.ErrNotImplemented},
		{"bzip2", []byte("BZh91AY&SY"), errdefs.ErrNotImplemented},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc, err := Decompress(bytes.NewReader(tc.in))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			got, err := io.ReadAll(rc)
			if err != nil {
				t.Fatal(err)
			}
			want := plain
			if tc.name == "empty" || tc.name == "short" {
				want = tc.in
			}
			if !bytes.Equal(got, want) {
				t.Errorf("got %d bytes, want %d", len(got), len(want))
			}
		})
	}
	// Pooled decoders must not leak state from one stream into the next.
	for i := 0; i < 3; i++ {
		for _, in := range [][]byte{gz(t, plain), zst(t, plain)} {
			rc, err := Decompress(bytes.NewReader(in))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("round %d: %d bytes, %v", i, len(got), err)
			}
		}
	}
}
