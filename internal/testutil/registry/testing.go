package registry

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func check(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, ErrNoBusybox) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// BusyboxImage is NewBusyboxImage for tests; it skips the test when
// busybox-static is missing.
func BusyboxImage(t testing.TB, opts ...ImageOption) v1.Image {
	t.Helper()
	img, err := NewBusyboxImage(opts...)
	check(t, err)
	return img
}

// Image is NewImage for tests.
func Image(t testing.TB, opts ...ImageOption) v1.Image {
	t.Helper()
	img, err := NewImage(opts...)
	check(t, err)
	return img
}

// LayerFromFiles is NewLayer for tests.
func LayerFromFiles(t testing.TB, files []File, opts ...ImageOption) v1.Layer {
	t.Helper()
	l, err := NewLayer(files, opts...)
	check(t, err)
	return l
}

// MultiArch is NewIndex for tests.
func MultiArch(t testing.TB, images map[Platform]v1.Image, opts ...ImageOption) v1.ImageIndex {
	t.Helper()
	idx, err := NewIndex(images, opts...)
	check(t, err)
	return idx
}

// BigImage is NewBigImage for tests: seed 1, busybox in the first layer.
func BigImage(t testing.TB, layers, totalMB, files int, opts ...ImageOption) v1.Image {
	t.Helper()
	img, err := NewBigImage(BigSpec{Layers: layers, TotalMB: totalMB, Files: files, Seed: 1, Busybox: true}, opts...)
	check(t, err)
	return img
}

// Push uploads an image or index to ref (plain HTTP) with auth (none:
// anonymous) and returns its manifest digest.
func Push(t testing.TB, ref string, a Artifact, auth ...authn.Authenticator) v1.Hash {
	t.Helper()
	var au authn.Authenticator
	if len(auth) > 0 {
		au = auth[0]
	}
	d, err := PushArtifact(context.Background(), ref, a, au)
	check(t, err)
	return d
}

// SaveDockerArchive is WriteDockerArchive for tests.
func SaveDockerArchive(t testing.TB, path string, img v1.Image, refs ...string) {
	t.Helper()
	check(t, WriteDockerArchive(path, img, refs...))
}

// SaveOCILayout is WriteOCILayout for tests (a directory, or a tar when
// path ends in ".tar").
func SaveOCILayout(t testing.TB, path string, a Artifact, refs ...string) {
	t.Helper()
	check(t, WriteOCILayout(path, a, refs...))
}
