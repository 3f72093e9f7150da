package snapshot

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/testutil"
)

func newOverlay(t *testing.T, root string) Snapshotter {
	t.Helper()
	testutil.RequireRoot(t) // the support check mounts
	s, err := OpenOverlay(root)
	if err != nil {
		t.Fatalf("open overlay at %s: %v", root, err)
	}
	return s
}

func TestOverlay(t *testing.T) { RunSuite(t, newOverlay) }

// A chain whose lowerdir option is longer than the page mount(2) copies
// must still mount, through Mount's fsconfig path.
func TestOverlayLongChain(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 100 layers")
	}
	e := &suiteEnv{t: t, ctx: context.Background(), root: t.TempDir(), open: newOverlay}
	e.s = newOverlay(t, e.root)
	t.Cleanup(func() { e.s.Close() })
	const layers = 100
	parent := ""
	for i := range layers {
		name := fmt.Sprint("layer", i)
		e.layer(name, parent, map[string]string{name: name, "top": name})
		parent = name
	}
	for _, tc := range []struct {
		name string
		make func() []Mount
	}{
		{"view", func() []Mount { return e.view("view", parent) }},
		{"active", func() []Mount { return e.prepare("active", parent, nil) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms := tc.make()
			if n := len(strings.Join(ms[0].Options, ",")); n < os.Getpagesize() {
				t.Fatalf("options are %d bytes; the test needs more than a page", n)
			}
			target, _ := e.mountAt(ms)
			checkTree(t, target, map[string]string{"layer0": "layer0", "layer50": "layer50", "top": fmt.Sprint("layer", layers-1)})
		})
	}
}

// Layers unpacked side by side, without parents, then chained.
func TestOverlayCommitOnto(t *testing.T) {
	testutil.RequireRoot(t)
	ctx := context.Background()
	o, err := OpenOverlay(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	write := func(key string, files map[string]string) {
		if _, err := o.Prepare(ctx, key, "", nil); err != nil {
			t.Fatal(err)
		}
		dir, err := o.UpperDir(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		for n, body := range files {
			if err := os.WriteFile(dir+"/"+n, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	write("x1", map[string]string{"a": "1", "shared": "lower"})
	write("x2", map[string]string{"b": "2", "shared": "upper"})
	if err := o.CommitOnto(ctx, "L2", "x2", "L1", nil); err == nil || !strings.Contains(err.Error(), `"L1" not found`) {
		t.Fatalf("onto a missing parent: %v", err)
	}
	if err := o.Commit(ctx, "L1", "x1", nil); err != nil {
		t.Fatal(err)
	}
	if err := o.CommitOnto(ctx, "L2", "x2", "L1", nil); err != nil {
		t.Fatal(err)
	}
	if info, err := o.Stat(ctx, "L2"); err != nil || info.Parent != "L1" {
		t.Fatalf("L2: %+v %v", info, err)
	}
	if err := o.Remove(ctx, "L1"); err == nil {
		t.Error("removed a parent with a child")
	}
	ms, err := o.View(ctx, "v", "L2", nil)
	if err != nil {
		t.Fatal(err)
	}
	target := t.TempDir()
	if err := MountAll(ms, target); err != nil {
		t.Fatal(err)
	}
	defer UnmountAll(target)
	for n, want := range map[string]string{"a": "1", "b": "2", "shared": "upper"} {
		if b, err := os.ReadFile(target + "/" + n); err != nil || string(b) != want {
			t.Errorf("%s = %q %v, want %q", n, b, err, want)
		}
	}
	if _, err := o.Prepare(ctx, "x3", "L2", nil); err != nil {
		t.Fatal(err)
	}
	if err := o.CommitOnto(ctx, "L3", "x3", "L1", nil); err == nil || !strings.Contains(err.Error(), "already has parent") {
		t.Errorf("rebase of a parented snapshot: %v", err)
	}
}
