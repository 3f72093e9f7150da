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
