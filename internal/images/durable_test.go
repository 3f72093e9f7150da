package images

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/internal/content"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/metadata"
	"github.com/berth-dev/berth/internal/reference"
)

func newTestService(t *testing.T) *Service {
	dir := t.TempDir()
	meta, err := metadata.Open(filepath.Join(dir, "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close() })
	cs, err := content.Open(filepath.Join(dir, "content"))
	if err != nil {
		t.Fatal(err)
	}
	return &Service{Content: cs, Meta: meta, SyncDirs: []string{dir}}
}

func TestFlushAndRecover(t *testing.T) {
	ctx := context.Background()
	s := newTestService(t)
	ref, _ := reference.Parse("example.com/a:1")
	img := Image{ID: digest.FromString("cfg")}
	if _, err := s.record(img, ref, ""); err != nil {
		t.Fatal(err)
	}
	get := func() Image {
		sum, err := s.Get(ctx, "example.com/a:1")
		if err != nil {
			t.Fatal(err)
		}
		return sum.Image
	}
	if u := get().Unsynced; u != bootID() {
		t.Fatalf("a fresh image is recorded as unsynced under this boot, got %q", u)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if u := get().Unsynced; u != "" {
		t.Fatalf("after Flush: %q", u)
	}
	// Same boot (the daemon crashed, the kernel did not): kept.
	s.record(Image{ID: digest.FromString("cfg2")}, ref.WithTag("2"), "")
	if err := s.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "example.com/a:2"); err != nil {
		t.Errorf("same-boot image lost: %v", err)
	}
	// Another boot (power loss before the flush): forgotten.
	s.record(Image{ID: digest.FromString("cfg3")}, ref.WithTag("3"), "")
	s.Meta.Update(func(tx *metadata.Tx) error {
		i, _ := imagesTable.Get(tx, digest.FromString("cfg3").String())
		i.Unsynced = "some-earlier-boot"
		return imagesTable.Put(tx, i.ID.String(), i)
	})
	if err := s.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "example.com/a:3"); !errdefs.IsNotFound(err) {
		t.Errorf("image from before a power loss kept: %v", err)
	}
	if _, err := s.Get(ctx, "example.com/a:1"); err != nil {
		t.Errorf("synced image lost: %v", err)
	}
}
