package daemon_test

import (
	"bytes"
	"crypto/sha256"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	reg "github.com/berth-dev/berth/internal/testutil/registry"
	"github.com/berth-dev/berth/internal/unpack/compress"
)

// rawLayer serves hostile layer bytes as they are.
type rawLayer struct {
	b      []byte
	diffID v1.Hash
}

func newRawLayer(b []byte) *rawLayer {
	l := &rawLayer{b: b}
	h := sha256.New()
	if rc, err := compress.Decompress(bytes.NewReader(b)); err == nil {
		io.Copy(h, rc)
		rc.Close()
	} else {
		h.Write(b)
	}
	l.diffID, _ = v1.NewHash("sha256:" + hexString(h.Sum(nil)))
	return l
}

func hexString(b []byte) string {
	const hexd = "0123456789abcdef"
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i], out[2*i+1] = hexd[c>>4], hexd[c&15]
	}
	return string(out)
}

func (l *rawLayer) Digest() (v1.Hash, error) {
	s := sha256.Sum256(l.b)
	return v1.NewHash("sha256:" + hexString(s[:]))
}
func (l *rawLayer) DiffID() (v1.Hash, error) { return l.diffID, nil }
func (l *rawLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.b)), nil
}
func (l *rawLayer) Uncompressed() (io.ReadCloser, error) {
	return compress.Decompress(bytes.NewReader(l.b))
}
func (l *rawLayer) Size() (int64, error)                { return int64(len(l.b)), nil }
func (l *rawLayer) MediaType() (types.MediaType, error) { return types.OCILayer, nil }

// TestHostileLayers pulls an image per hostile layer of the unpack corpus
// through berthd: each is rejected or contained, nothing is written
// outside the snapshot, and a rejected pull leaves no snapshot behind.
func TestHostileLayers(t *testing.T) {
	corpus, _ := filepath.Glob("../../../internal/unpack/testdata/hostile/*.layer")
	if len(corpus) < 15 {
		t.Fatalf("hostile corpus has %d layers, want at least 15", len(corpus))
	}
	r := reg.Start(t)
	d := startDaemon(t, "")
	passwd, _ := os.ReadFile("/etc/passwd")
	shadow, _ := os.ReadFile("/etc/shadow")
	name := regexp.MustCompile(`[^a-z0-9]+`)
	rejected := 0
	for _, path := range corpus {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		base := strings.TrimSuffix(filepath.Base(path), ".layer")
		ref := r.Ref("hostile/" + strings.Trim(name.ReplaceAllString(base, "-"), "-") + ":1")
		reg.Push(t, ref, reg.Image(t, reg.WithPrebuiltLayer(newRawLayer(b))))
		_, stderr, err := d.run(binary(t, "BERTH", "berth"), "pull", ref)
		if err != nil {
			rejected++
			if !strings.Contains(stderr, "Error") {
				t.Errorf("%s: unclear failure: %q", base, stderr)
			}
			d.run(binary(t, "BERTH", "berth"), "rmi", "-f", ref)
		}
	}
	t.Logf("%d of %d hostile layers rejected, the rest contained", rejected, len(corpus))
	if rejected == 0 {
		t.Error("no hostile layer was rejected")
	}
	if b, _ := os.ReadFile("/etc/passwd"); !bytes.Equal(b, passwd) {
		t.Error("/etc/passwd changed")
	}
	if b, _ := os.ReadFile("/etc/shadow"); !bytes.Equal(b, shadow) {
		t.Error("/etc/shadow changed")
	}
	// Nothing may exist in the daemon's tree outside the places berthd
	// writes: content, snapshot directories, its databases.
	top := filepath.Dir(d.root)
	allowed := regexp.MustCompile(`^(berth\.toml|docker|run(/.*)?|root|root/(metadata\.db|tmp|containers|content(/.*)?|snapshots|snapshots/overlay|snapshots/overlay/(metadata\.db|check(/.*)?|snapshots|snapshots/[0-9]+|snapshots/[0-9]+/(fs|work)(/.*)?)))$`)
	filepath.WalkDir(top, func(p string, de fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(top, p)
		if rel == "." {
			return nil
		}
		if !allowed.MatchString(rel) {
			t.Errorf("unexpected path outside the snapshots: %s", rel)
		}
		return nil
	})
	// Rejected pulls left no snapshots: every snapshot belongs to an image.
	d.stop()
	d.start()
	out := d.berth("images", "-q")
	_, snaps, _ := d.counts()
	if imgs := len(strings.Fields(out)); snaps > imgs {
		t.Errorf("%d snapshots for %d images", snaps, imgs)
	}
}
