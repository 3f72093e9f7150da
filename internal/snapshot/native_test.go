package snapshot

import (
	"testing"

	"github.com/berth-dev/berth/internal/errdefs"
)

func newNative(t *testing.T, root string) Snapshotter {
	t.Helper()
	s, err := OpenNative(root)
	if err != nil {
		t.Fatalf("open native at %s: %v", root, err)
	}
	return s
}

func TestNative(t *testing.T) { RunSuite(t, newNative) }

func TestOpenRelativeRoot(t *testing.T) {
	for name, open := range map[string]func(string) error{
		"native":  func(r string) error { _, err := OpenNative(r); return err },
		"overlay": func(r string) error { _, err := OpenOverlay(r); return err },
	} {
		if err := open("relative/root"); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%s: open relative root: %v, want invalid argument", name, err)
		}
	}
}
