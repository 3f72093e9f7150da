package volume

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/metadata"
)

func TestStore(t *testing.T) {
	dir := t.TempDir()
	db, err := metadata.Open(filepath.Join(dir, "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	used := map[string][]string{}
	s := &Store{Meta: db, Root: filepath.Join(dir, "volumes"), InUse: func(n string) []string { return used[n] }}
	ctx := context.Background()
	v, err := s.Create("data", "", map[string]string{"a": "b"}, nil, false)
	if err != nil || v.Mountpoint != filepath.Join(dir, "volumes/data/_data") {
		t.Fatalf("create: %+v %v", v, err)
	}
	if _, err := os.Stat(v.Mountpoint); err != nil {
		t.Fatal(err)
	}
	again, _ := s.Create("data", "", nil, nil, false)
	if again.CreatedAt != v.CreatedAt {
		t.Error("re-create replaced the volume")
	}
	for _, bad := range []struct{ name, driver string }{{"../x", ""}, {"a b", ""}, {"ok", "nfs"}} {
		if _, err := s.Create(bad.name, bad.driver, nil, nil, false); err == nil {
			t.Errorf("create %q/%q accepted", bad.name, bad.driver)
		}
	}
	anon, _ := s.Create("", "", nil, nil, true)
	if len(anon.Name) != 64 {
		t.Errorf("anonymous name %q", anon.Name)
	}
	used["data"] = []string{"c1"}
	if err := s.Remove(ctx, "data", false); !errdefs.IsConflict(err) {
		t.Errorf("remove in use: %v", err)
	}
	removed, _, _ := s.Prune(ctx, false)
	if len(removed) != 1 || removed[0] != anon.Name {
		t.Errorf("prune: %v", removed)
	}
	delete(used, "data")
	if err := s.Remove(ctx, "data", false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(v.Mountpoint); !os.IsNotExist(err) {
		t.Error("data left")
	}
	if err := s.Remove(ctx, "data", false); !errdefs.IsNotFound(err) {
		t.Errorf("remove missing: %v", err)
	}
}
