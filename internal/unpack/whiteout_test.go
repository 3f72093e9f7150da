package unpack

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/testutil"
)

// whiteoutScenarios are stacks of layers and the tree a container must see
// on top of them: "dir", "file:<content>" or "lnk:<target>" per path. For
// upperdir artifacts, overlay maps "<layer index>:<path>" to "whiteout" (a
// 0:0 device), "opaque" (a directory marked opaque) or "plain" (a
// directory not marked).
var whiteoutScenarios = []struct {
	name    string
	layers  [][]ent
	want    map[string]string
	overlay map[string]string
}{
	{
		name: "whiteout of a file and of a directory",
		layers: [][]ent{
			{dir("a/"), file("a/file1", "1"), file("a/file2", "2"), dir("b/"), file("b/x", "x"), file("c/file3", "3")},
			{file("a/.wh.file1", ""), file(".wh.b", ""), file("file4", "4")},
		},
		want:    map[string]string{"a": "dir", "a/file2": "file:2", "c": "dir", "c/file3": "file:3", "file4": "file:4"},
		overlay: map[string]string{"1:a/file1": "whiteout", "1:b": "whiteout", "1:a": "plain"},
	},
	{
		name: "opaque directory",
		layers: [][]ent{
			{dir("bin/"), file("bin/tool1", "t"), dir("bin/tools/"), file("bin/tools/one", "1"), file("etc/cfg", "c")},
			{dir("bin/"), file("bin/.wh..wh..opq", ""), file("bin/new", "n")},
		},
		want:    map[string]string{"bin": "dir", "bin/new": "file:n", "etc": "dir", "etc/cfg": "file:c"},
		overlay: map[string]string{"1:bin": "opaque"},
	},
	{
		name: "opaque marker listed after the new children",
		layers: [][]ent{
			{dir("a/"), dir("a/b/"), dir("a/b/c/"), file("a/b/c/bar", "bar")},
			{dir("a/"), dir("a/b/"), dir("a/b/c/"), file("a/b/c/foo", "foo"), file("a/.wh..wh..opq", "")},
		},
		want:    map[string]string{"a": "dir", "a/b": "dir", "a/b/c": "dir", "a/b/c/foo": "file:foo"},
		overlay: map[string]string{"1:a": "opaque", "1:a/b": "plain"},
	},
	{
		name: "whiteout, then re-added by a later layer",
		layers: [][]ent{
			{file("f", "old"), dir("d/"), file("d/x", "x")},
			{file(".wh.f", ""), file(".wh.d", "")},
			{file("f", "new"), dir("d/"), file("d/y", "y")},
		},
		want:    map[string]string{"f": "file:new", "d": "dir", "d/y": "file:y"},
		overlay: map[string]string{"1:f": "whiteout", "1:d": "whiteout", "2:d": "plain"},
	},
	{
		name: "whiteout and re-add in one layer, whiteout first",
		layers: [][]ent{
			{dir("d/"), file("d/old", "o")},
			{file(".wh.d", ""), dir("d/"), file("d/new", "n")},
		},
		want:    map[string]string{"d": "dir", "d/new": "file:n"},
		overlay: map[string]string{"1:d": "opaque"},
	},
	{
		name: "whiteout and re-add in one layer, whiteout last",
		layers: [][]ent{
			{dir("d/"), file("d/old", "o"), file("f", "old")},
			{dir("d/"), file("d/new", "n"), file(".wh.d", ""), file("f", "new"), file(".wh.f", "")},
		},
		want:    map[string]string{"d": "dir", "d/new": "file:n", "f": "file:new"},
		overlay: map[string]string{"1:d": "opaque"},
	},
	{
		name: "whiteout, then children without the directory's own entry",
		layers: [][]ent{
			{dir("d/"), file("d/old", "o"), dir("d/sub/"), file("d/sub/x", "x")},
			{file(".wh.d", ""), file("d/sub/new", "n")},
		},
		want:    map[string]string{"d": "dir", "d/sub": "dir", "d/sub/new": "file:n"},
		overlay: map[string]string{"1:d": "opaque"},
	},
	{
		name: "whiteout of what no layer has",
		layers: [][]ent{
			{dir("a/")},
			{file("a/.wh.ghost", ""), file(".wh.none", "")},
		},
		want: map[string]string{"a": "dir"},
	},
	{
		name: "whiteout of a symlink removes the link, not its target",
		layers: [][]ent{
			{dir("real/"), file("real/x", "x"), symlink("link", "real")},
			{file(".wh.link", "")},
		},
		want:    map[string]string{"real": "dir", "real/x": "file:x"},
		overlay: map[string]string{"1:link": "whiteout"},
	},
	{
		name: "opaque marker in a directory no lower layer has",
		layers: [][]ent{
			{file("keep", "k")},
			{file("new/.wh..wh..opq", ""), file("new/a", "a")},
		},
		want: map[string]string{"keep": "file:k", "new": "dir", "new/a": "file:a"},
	},
	{
		name: "three layers, opaque in the middle one",
		layers: [][]ent{
			{dir("d/"), file("d/a", "a"), dir("d/sub/"), file("d/sub/deep", "deep")},
			{dir("d/"), file("d/.wh..wh..opq", ""), file("d/b", "b")},
			{file("d/c", "c")},
		},
		want:    map[string]string{"d": "dir", "d/b": "file:b", "d/c": "file:c"},
		overlay: map[string]string{"1:d": "opaque", "2:d": "plain"},
	},
	{
		name: "whiteout under parents the layer does not list",
		layers: [][]ent{
			{file("x/y/z", "z"), file("x/y/w", "w")},
			{file("x/y/.wh.z", "")},
		},
		want: map[string]string{"x": "dir", "x/y": "dir", "x/y/w": "file:w"},
	},
}

// overlayBase is a directory whose path overlayfs options can carry (test
// names bring commas, which separate mount options).
func overlayBase(t *testing.T) string {
	d, err := os.MkdirTemp("", "unpack-ovl-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func skipOrFailMount(t *testing.T, err error) {
	t.Helper()
	switch {
	case err == nil:
	case errors.Is(err, unix.ENODEV), errors.Is(err, unix.EPERM):
		t.Skipf("cannot mount overlayfs here: %v", err)
	default:
		t.Fatalf("mount overlayfs: %v", err)
	}
}

func treeView(s map[string]desc) map[string]string {
	out := map[string]string{}
	for p, d := range s {
		switch d.Type {
		case "dir":
			out[p] = "dir"
		case "reg":
			out[p] = "file:" + d.Content
		case "lnk":
			out[p] = "lnk:" + d.Content
		default:
			out[p] = d.Type
		}
	}
	return out
}

func diffViews(got, want map[string]string) string {
	var lines []string
	for p, w := range want {
		if g, ok := got[p]; !ok {
			lines = append(lines, fmt.Sprintf("missing %s (%s)", p, w))
		} else if g != w {
			lines = append(lines, fmt.Sprintf("%s: %s, want %s", p, g, w))
		}
	}
	for p, g := range got {
		if _, ok := want[p]; !ok {
			lines = append(lines, fmt.Sprintf("unexpected %s (%s)", p, g))
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// TestWhiteoutDelete applies each layer into a copy of the previous
// snapshot, as the native snapshotter does.
func TestWhiteoutDelete(t *testing.T) {
	testutil.RequireRoot(t)
	for _, sc := range whiteoutScenarios {
		t.Run(sc.name, func(t *testing.T) {
			base := t.TempDir()
			prev := ""
			for i, layer := range sc.layers {
				cur := filepath.Join(base, fmt.Sprint(i))
				if prev == "" {
					if err := os.Mkdir(cur, 0o755); err != nil {
						t.Fatal(err)
					}
				} else if out, err := exec.Command("cp", "-a", prev, cur).CombinedOutput(); err != nil {
					t.Fatalf("cp: %v: %s", err, out)
				}
				before := ""
				if prev != "" {
					before = fingerprint(t, prev)
				}
				if _, err := jailApply(cur, mkTar(t, layer...), "", Options{Whiteouts: WhiteoutDelete}); err != nil {
					t.Fatalf("layer %d: %v", i, err)
				}
				if prev != "" && fingerprint(t, prev) != before {
					t.Fatalf("layer %d changed the snapshot it was copied from", i)
				}
				prev = cur
			}
			if d := diffViews(treeView(mustSnapshot(t, prev)), sc.want); d != "" {
				t.Error(d)
			}
		})
	}
}

// TestWhiteoutOverlay applies each layer into its own upperdir, checks the
// whiteout devices and opaque markers, then mounts the stack with overlayfs
// and checks what a container would see, against the native result too.
func TestWhiteoutOverlay(t *testing.T) {
	testutil.RequireRoot(t)
	for _, sc := range whiteoutScenarios {
		t.Run(sc.name, func(t *testing.T) {
			base := overlayBase(t)
			var uppers []string
			for i, layer := range sc.layers {
				up := filepath.Join(base, fmt.Sprint(i))
				if err := os.Mkdir(up, 0o755); err != nil {
					t.Fatal(err)
				}
				if _, err := jailApply(up, mkTar(t, layer...), "", Options{Whiteouts: WhiteoutOverlay}); err != nil {
					t.Fatalf("layer %d: %v", i, err)
				}
				uppers = append(uppers, up)
			}
			for key, want := range sc.overlay {
				var li int
				var p string
				fmt.Sscanf(key, "%d:", &li)
				p = key[strings.IndexByte(key, ':')+1:]
				full := filepath.Join(uppers[li], p)
				var st unix.Stat_t
				if err := unix.Lstat(full, &st); err != nil {
					t.Errorf("%s: %v", key, err)
					continue
				}
				opaque := listXattrs(full)[overlayOpaque] == "y"
				switch want {
				case "whiteout":
					if !isWhiteoutDevice(&st) {
						t.Errorf("%s: mode %o rdev %d, want a 0:0 character device", key, st.Mode, st.Rdev)
					}
				case "opaque":
					if !isDir(&st) || !opaque {
						t.Errorf("%s: want an opaque directory (opaque=%v)", key, opaque)
					}
				case "plain":
					if !isDir(&st) || opaque {
						t.Errorf("%s: want a directory not marked opaque (opaque=%v)", key, opaque)
					}
				}
			}

			merged := filepath.Join(base, "merged")
			if err := os.Mkdir(merged, 0o755); err != nil {
				t.Fatal(err)
			}
			var view map[string]desc
			var mountErr, snapErr error
			if len(uppers) == 1 {
				view, snapErr = snapshot(uppers[0])
			} else {
				lowers := slices.Clone(uppers)
				slices.Reverse(lowers) // overlayfs lists the top layer first
				inJail(func() {
					mountErr = unix.Mount("overlay", merged, "overlay", unix.MS_RDONLY, "lowerdir="+strings.Join(lowers, ":"))
					if mountErr != nil {
						return
					}
					view, snapErr = snapshot(merged)
					unix.Unmount(merged, unix.MNT_DETACH)
				})
			}
			skipOrFailMount(t, mountErr)
			if snapErr != nil {
				t.Fatal(snapErr)
			}
			if d := diffViews(treeView(view), sc.want); d != "" {
				t.Errorf("merged view:\n%s", d)
			}
		})
	}
}

// TestWhiteoutModesAgree checks both modes give the same tree, metadata
// included, for every scenario.
func TestWhiteoutModesAgree(t *testing.T) {
	testutil.RequireRoot(t)
	for _, sc := range whiteoutScenarios {
		t.Run(sc.name, func(t *testing.T) {
			if len(sc.layers) < 2 {
				t.Skip()
			}
			base := overlayBase(t)
			native := filepath.Join(base, "native")
			os.Mkdir(native, 0o755)
			var lowers []string
			for i, layer := range sc.layers {
				data := mkTar(t, layer...)
				if _, err := jailApply(native, data, "", Options{Whiteouts: WhiteoutDelete}); err != nil {
					t.Fatal(err)
				}
				up := filepath.Join(base, fmt.Sprint(i))
				os.Mkdir(up, 0o755)
				if _, err := jailApply(up, data, "", Options{Whiteouts: WhiteoutOverlay}); err != nil {
					t.Fatal(err)
				}
				lowers = append([]string{up}, lowers...)
			}
			merged := filepath.Join(base, "merged")
			os.Mkdir(merged, 0o755)
			var view map[string]desc
			var mountErr, snapErr error
			inJail(func() {
				mountErr = unix.Mount("overlay", merged, "overlay", unix.MS_RDONLY, "lowerdir="+strings.Join(lowers, ":"))
				if mountErr != nil {
					return
				}
				view, snapErr = snapshot(merged)
				unix.Unmount(merged, unix.MNT_DETACH)
			})
			skipOrFailMount(t, mountErr)
			if snapErr != nil {
				t.Fatal(snapErr)
			}
			project := func(d desc) desc {
				return desc{Type: d.Type, Perm: d.Perm, UID: d.UID, GID: d.GID, Content: d.Content, Rdev: d.Rdev}
			}
			if d := diffSnapshots(mustSnapshot(t, native), view, project); len(d) > 0 {
				t.Errorf("native and overlay differ:\n%s", strings.Join(d, "\n"))
			}
		})
	}
}
