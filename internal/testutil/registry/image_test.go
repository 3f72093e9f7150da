package registry

import (
	"archive/tar"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func TestLayerFromFiles(t *testing.T) {
	files := []File{
		Dir("etc", 0),
		Whiteout("etc/old.conf"),
		OpaqueWhiteout("var/cache/"),
		{Name: "etc/app.conf", Body: "k=v\n", Uid: 1000, Gid: 1000, Mode: 0o600, Xattrs: map[string]string{"user.berth": "yes"}},
		{Name: "usr/bin/tool", Body: "#!/bin/sh\n", Mode: 0o4755},
		{Name: "usr/bin/alias", Linkname: "tool"},
		{Name: "usr/bin/hard", Linkname: "usr/bin/tool", Typeflag: tar.TypeLink},
		{Name: "dev/null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3, Mode: 0o666},
	}
	for _, c := range []Compression{Gzip, Zstd, Uncompressed} {
		l := LayerFromFiles(t, files, WithCompression(c))
		if mt, _ := l.MediaType(); mt != LayerMediaType(c, false) {
			t.Fatalf("%v: media type %s", c, mt)
		}
		d, _ := l.Digest()
		diff, _ := l.DiffID()
		if (c == Uncompressed) != (d == diff) {
			t.Fatalf("%v: digest %v diffID %v", c, d, diff)
		}
		if l2 := LayerFromFiles(t, files, WithCompression(c)); mustDigest(t, l2) != d {
			t.Fatalf("%v: layer not deterministic", c)
		}
		hdrs, bodies := readTar(t, l)
		if h := hdrs["etc/.wh.old.conf"]; h == nil || h.Typeflag != tar.TypeReg {
			t.Fatalf("whiteout: %+v", h)
		}
		if hdrs["var/cache/.wh..wh..opq"] == nil {
			t.Fatal("opaque whiteout missing")
		}
		h := hdrs["etc/app.conf"]
		if h == nil || h.Uid != 1000 || h.Mode != 0o600 || h.PAXRecords["SCHILY.xattr.user.berth"] != "yes" || bodies["etc/app.conf"] != "k=v\n" {
			t.Fatalf("etc/app.conf: %+v", h)
		}
		if h := hdrs["usr/bin/tool"]; h.Mode != 0o4755 {
			t.Fatalf("setuid mode: %o", h.Mode)
		}
		if h := hdrs["usr/bin/alias"]; h.Typeflag != tar.TypeSymlink || h.Linkname != "tool" {
			t.Fatalf("symlink: %+v", h)
		}
		if h := hdrs["usr/bin/hard"]; h.Typeflag != tar.TypeLink {
			t.Fatalf("hard link: %+v", h)
		}
		if h := hdrs["dev/null"]; h.Typeflag != tar.TypeChar || h.Devmajor != 1 || h.Devminor != 3 {
			t.Fatalf("char device: %+v", h)
		}
		if h := hdrs["etc/"]; h == nil || h.Typeflag != tar.TypeDir || h.Mode != 0o755 {
			t.Fatalf("dir: %+v", h)
		}
	}
	if _, err := NewLayer([]File{{Name: "d/", Body: "x"}}); err == nil {
		t.Fatal("a directory with a body was accepted")
	}
}

func mustDigest(t *testing.T, x interface{ Digest() (v1.Hash, error) }) v1.Hash {
	t.Helper()
	d, err := x.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestMultiLayerImage(t *testing.T) {
	img := BusyboxImage(t,
		WithFiles(map[string]string{"etc/a": "1", "etc/b": "2"}),
		WithLayer(Whiteout("etc/a"), Reg("etc/b", 0o644, "3")),
		WithPrebuiltLayer(LayerFromFiles(t, []File{Reg("x", 0o644, "y")}, WithCompression(Zstd))),
		WithPlatform(Platform{OS: "linux", Architecture: "arm", Variant: "v7"}),
		WithAnnotations(map[string]string{"org.example": "1"}),
	)
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Layers) != 4 || m.Layers[3].MediaType != types.OCILayerZStd || m.Layers[1].MediaType != types.OCILayer || m.Annotations["org.example"] != "1" {
		t.Fatalf("manifest: %+v", m)
	}
	cf, _ := img.ConfigFile()
	if len(cf.RootFS.DiffIDs) != 4 || len(cf.History) != 4 || cf.Architecture != "arm" || cf.Variant != "v7" || !cf.Created.Equal(Epoch) {
		t.Fatalf("config: %+v", cf)
	}
	// A scratch image: only the given layer.
	scratch := Image(t, WithFiles(map[string]string{"hello": "world"}), WithCmd("/hello"))
	if ls, _ := scratch.Layers(); len(ls) != 1 {
		t.Fatalf("scratch image has %d layers", len(ls))
	}
}

func TestBigImage(t *testing.T) {
	spec := BigSpec{Layers: 3, TotalMB: 3, Files: 301, Seed: 7}
	a, err := NewBigImage(spec)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewBigImage(spec)
	if err != nil {
		t.Fatal(err)
	}
	if mustDigest(t, a) != mustDigest(t, b) {
		t.Fatal("same spec, different digests")
	}
	spec.Seed = 8
	c, _ := NewBigImage(spec)
	if mustDigest(t, a) == mustDigest(t, c) {
		t.Fatal("different seeds, same digest")
	}
	layers, _ := a.Layers()
	if len(layers) != 3 {
		t.Fatalf("%d layers", len(layers))
	}
	var files, bytes, compressed int64
	for _, l := range layers {
		hdrs, _ := readTar(t, l)
		for _, h := range hdrs {
			if h.Typeflag == tar.TypeReg {
				files++
				bytes += h.Size
			}
		}
		sz, _ := l.Size()
		compressed += sz
	}
	if files != 301 || bytes != 3<<20 {
		t.Fatalf("%d files, %d bytes", files, bytes)
	}
	ratio := float64(compressed) / float64(bytes)
	t.Logf("gzip ratio %.2f", ratio)
	if ratio < 0.6 || ratio > 1.01 {
		t.Fatalf("compression ratio %.2f: content should be incompressible-ish", ratio)
	}
	// The testing wrapper adds busybox to the first layer.
	img := BigImage(t, 2, 1, 20, WithCompression(Zstd))
	ls, _ := img.Layers()
	hdrs, _ := readTar(t, ls[0])
	if hdrs["bin/busybox"] == nil || hdrs["data/l1/d000/f00000.bin"] == nil {
		t.Fatal("big image layer 1 lacks busybox or data")
	}
}

func TestSaveDockerArchive(t *testing.T) {
	img := BusyboxImage(t, WithFiles(map[string]string{"hello": "world\n"}))
	path := filepath.Join(t.TempDir(), "img.tar")
	SaveDockerArchive(t, path, img, "example.com/test/busybox:v1", "busybox")

	m, err := tarball.LoadManifest(opener(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 1 || len(m[0].RepoTags) != 2 {
		t.Fatalf("manifest.json: %+v", m)
	}
	tag, _ := name.NewTag("example.com/test/busybox:v1")
	back, err := tarball.ImageFromPath(path, &tag)
	if err != nil {
		t.Fatal(err)
	}
	if cd, _ := back.ConfigName(); cd != mustConfigName(t, img) {
		t.Fatalf("config digest %v", cd)
	}
	bl, _ := back.Layers()
	ol, _ := img.Layers()
	if len(bl) != len(ol) || mustDigest(t, bl[1]) != mustDigest(t, ol[1]) {
		t.Fatal("layers differ after docker archive round trip")
	}

	untagged := filepath.Join(t.TempDir(), "untagged.tar")
	SaveDockerArchive(t, untagged, img)
	m, err = tarball.LoadManifest(opener(untagged))
	if err != nil || len(m) != 1 || len(m[0].RepoTags) != 0 {
		t.Fatalf("untagged manifest.json: %+v %v", m, err)
	}
}

func opener(path string) tarball.Opener {
	return func() (io.ReadCloser, error) { return os.Open(path) }
}

func mustConfigName(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	h, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestSaveOCILayout(t *testing.T) {
	img := BusyboxImage(t)
	dir := filepath.Join(t.TempDir(), "layout")
	SaveOCILayout(t, dir, img, "example.com/busybox:v2", "other/name")
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	if len(im.Manifests) != 2 || im.Manifests[0].Annotations[AnnotationRefName] != "v2" ||
		im.Manifests[0].Annotations[AnnotationContainerdName] != "example.com/busybox:v2" ||
		im.Manifests[1].Annotations[AnnotationRefName] != "latest" {
		t.Fatalf("index.json: %+v", im.Manifests)
	}
	back, err := p.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	if mustDigest(t, back) != mustDigest(t, img) {
		t.Fatal("image digest changed in the layout")
	}

	// An index as a tar.
	arm, _ := ParsePlatform("linux/arm64")
	ii := MultiArch(t, map[Platform]v1.Image{HostPlatform(): img, arm: img})
	tarPath := filepath.Join(t.TempDir(), "multi.tar")
	SaveOCILayout(t, tarPath, ii, "multi:1")
	f, err := os.Open(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	names := map[string]bool{}
	var index v1.IndexManifest
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names[h.Name] = true
		if h.Name == "index.json" {
			if err := json.NewDecoder(tr).Decode(&index); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !names["oci-layout"] || !names["blobs/sha256/"+mustDigest(t, ii).Hex] || len(index.Manifests) != 1 ||
		index.Manifests[0].MediaType != types.OCIImageIndex {
		t.Fatalf("tar layout: %v %+v", names, index)
	}
	for n := range names {
		if strings.HasPrefix(n, "/") || strings.Contains(n, "..") {
			t.Fatalf("bad name %q", n)
		}
	}
}
