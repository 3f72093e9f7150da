package snapshot

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/testutil"
)

// RunSuite runs the behaviour every Snapshotter must have. newSnapshotter
// opens one at root; it is called again with the same root to check that
// state survives a Close, and may skip the test (e.g. without root). Tests
// that mount skip when not root.
func RunSuite(t *testing.T, newSnapshotter func(t *testing.T, root string) Snapshotter) {
	tests := []struct {
		name string
		fn   func(e *suiteEnv)
	}{
		{"Chain", testChain},
		{"Errors", testErrors},
		{"Labels", testLabels},
		{"Walk", testWalk},
		{"Remove", testRemove},
		{"Usage", testUsage},
		{"Reopen", testReopen},
		{"CrashLeftovers", testCrashLeftovers},
		{"Mount", testMount},
		{"Whiteouts", testWhiteouts},
		{"Concurrent", testConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := &suiteEnv{t: t, ctx: context.Background(), root: t.TempDir(), open: newSnapshotter}
			e.s = newSnapshotter(t, e.root)
			t.Cleanup(func() { e.s.Close() })
			tc.fn(e)
		})
	}
}

type suiteEnv struct {
	t    *testing.T
	ctx  context.Context
	root string
	s    Snapshotter
	open func(t *testing.T, root string) Snapshotter
}

func (e *suiteEnv) reopen() {
	e.t.Helper()
	if err := e.s.Close(); err != nil {
		e.t.Fatalf("close: %v", err)
	}
	e.s = e.open(e.t, e.root)
}

// absent marks a path that must not exist in checkTree.
const absent = "\x00absent"

func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func checkTree(t *testing.T, dir string, want map[string]string) {
	t.Helper()
	for name, content := range want {
		got, err := os.ReadFile(filepath.Join(dir, name))
		switch {
		case content == absent && !errors.Is(err, os.ErrNotExist):
			t.Errorf("%s: exists (err %v), want absent", name, err)
		case content != absent && err != nil:
			t.Errorf("%s: %v", name, err)
		case content != absent && string(got) != content:
			t.Errorf("%s = %q, want %q", name, got, content)
		}
	}
}

// mountAt mounts ms on a new directory and returns it with a function that
// unmounts it early; the test's cleanup unmounts it otherwise.
func (e *suiteEnv) mountAt(ms []Mount) (string, func()) {
	e.t.Helper()
	testutil.RequireRoot(e.t)
	target := e.t.TempDir()
	if err := MountAll(ms, target); err != nil {
		e.t.Fatalf("mount %+v: %v", ms, err)
	}
	unmount := func() {
		if err := UnmountAll(target); err != nil {
			e.t.Errorf("unmount: %v", err)
		}
	}
	e.t.Cleanup(unmount)
	return target, unmount
}

// write puts files into the active snapshot key: straight into its
// directory when the snapshotter allows, else through a mount.
func (e *suiteEnv) write(key string, files map[string]string) {
	e.t.Helper()
	if dw, ok := e.s.(DirectWriter); ok {
		dir, err := dw.UpperDir(e.ctx, key)
		if err != nil {
			e.t.Fatal(err)
		}
		writeTree(e.t, dir, files)
		return
	}
	ms, err := e.s.Mounts(e.ctx, key)
	if err != nil {
		e.t.Fatal(err)
	}
	target, unmount := e.mountAt(ms)
	writeTree(e.t, target, files)
	unmount()
}

func (e *suiteEnv) prepare(key, parent string, labels map[string]string) []Mount {
	e.t.Helper()
	ms, err := e.s.Prepare(e.ctx, key, parent, labels)
	if err != nil {
		e.t.Fatalf("prepare %q on %q: %v", key, parent, err)
	}
	return ms
}

func (e *suiteEnv) view(key, parent string) []Mount {
	e.t.Helper()
	ms, err := e.s.View(e.ctx, key, parent, nil)
	if err != nil {
		e.t.Fatalf("view %q of %q: %v", key, parent, err)
	}
	return ms
}

func (e *suiteEnv) commit(name, key string) {
	e.t.Helper()
	if err := e.s.Commit(e.ctx, name, key, nil); err != nil {
		e.t.Fatalf("commit %q as %q: %v", key, name, err)
	}
}

// layer makes the committed snapshot name on parent holding files.
func (e *suiteEnv) layer(name, parent string, files map[string]string) {
	e.t.Helper()
	e.prepare("extract-"+name, parent, nil)
	e.write("extract-"+name, files)
	e.commit(name, "extract-"+name)
}

func (e *suiteEnv) stat(key string) Info {
	e.t.Helper()
	info, err := e.s.Stat(e.ctx, key)
	if err != nil {
		e.t.Fatalf("stat %q: %v", key, err)
	}
	return info
}

func (e *suiteEnv) names() []string {
	e.t.Helper()
	var names []string
	if err := e.s.Walk(e.ctx, func(i Info) error { names = append(names, i.Name); return nil }); err != nil {
		e.t.Fatal(err)
	}
	return names
}

// snapshotDirs lists root/snapshots, the layout the shared core uses.
func (e *suiteEnv) snapshotDirs() []string {
	e.t.Helper()
	entries, err := os.ReadDir(filepath.Join(e.root, "snapshots"))
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, en := range entries {
		out = append(out, en.Name())
	}
	return out
}

func wantClass(t *testing.T, err, class error, names ...string) {
	t.Helper()
	if !errors.Is(err, class) {
		t.Fatalf("error %v, want class %v", err, class)
	}
	for _, n := range names {
		if !strings.Contains(err.Error(), strconv.Quote(n)) {
			t.Errorf("error %q does not name %q", err, n)
		}
	}
}

func testChain(e *suiteEnv) {
	t := e.t
	e.layer("base", "", map[string]string{"a": "1", "dir/b": "2"})
	e.layer("mid", "base", map[string]string{"c": "3"})
	if ms := e.prepare("top", "mid", nil); len(ms) == 0 {
		t.Fatal("prepare returned no mounts")
	}
	e.view("look", "mid")
	for _, want := range []struct {
		name, parent string
		kind         Kind
	}{
		{"base", "", KindCommitted},
		{"mid", "base", KindCommitted},
		{"top", "mid", KindActive},
		{"look", "mid", KindView},
	} {
		got := e.stat(want.name)
		if got.Name != want.name || got.Parent != want.parent || got.Kind != want.kind {
			t.Errorf("stat %q = %+v, want parent %q kind %v", want.name, got, want.parent, want.kind)
		}
		if got.Created.IsZero() || got.Updated.IsZero() {
			t.Errorf("stat %q: zero timestamps", want.name)
		}
	}
	// Commit consumes the active key.
	_, err := e.s.Stat(e.ctx, "extract-mid")
	wantClass(t, err, errdefs.ErrNotFound, "extract-mid")
	if got, want := e.names(), []string{"base", "look", "mid", "top"}; !slices.Equal(got, want) {
		t.Errorf("walk = %v, want %v", got, want)
	}
	// What an applier finds in the writable directory follows its mode:
	// only its own changes for overlay, the whole chain for a copy.
	dw, ok := e.s.(DirectWriter)
	if !ok {
		return
	}
	dir, err := dw.UpperDir(e.ctx, "top")
	if err != nil {
		t.Fatal(err)
	}
	switch dw.WhiteoutMode() {
	case WhiteoutOverlay:
		checkTree(t, dir, map[string]string{"a": absent, "c": absent})
	case WhiteoutDelete:
		checkTree(t, dir, map[string]string{"a": "1", "dir/b": "2", "c": "3"})
	default:
		t.Errorf("whiteout mode %v", dw.WhiteoutMode())
	}
}

func testErrors(e *suiteEnv) {
	e.layer("committed", "", map[string]string{"f": "x"})
	e.prepare("active", "committed", nil)
	e.view("view", "committed")
	s, ctx := e.s, e.ctx
	upper := func(key string) error {
		dw, ok := s.(DirectWriter)
		if !ok {
			return errdefs.FailedPrecondition("%q", key)
		}
		_, err := dw.UpperDir(ctx, key)
		return err
	}
	tests := []struct {
		name  string
		op    func() error
		class error
		names []string // the error must quote each
	}{
		{"prepare existing active key", func() error { _, err := s.Prepare(ctx, "active", "", nil); return err }, errdefs.ErrAlreadyExists, []string{"active"}},
		{"prepare existing committed name", func() error { _, err := s.Prepare(ctx, "committed", "", nil); return err }, errdefs.ErrAlreadyExists, []string{"committed"}},
		{"view existing key", func() error { _, err := s.View(ctx, "view", "committed", nil); return err }, errdefs.ErrAlreadyExists, []string{"view"}},
		{"unknown parent", func() error { _, err := s.Prepare(ctx, "x", "nope", nil); return err }, errdefs.ErrNotFound, []string{"x", "nope"}},
		{"view of unknown parent", func() error { _, err := s.View(ctx, "x", "nope", nil); return err }, errdefs.ErrNotFound, []string{"x", "nope"}},
		{"active parent", func() error { _, err := s.Prepare(ctx, "x", "active", nil); return err }, errdefs.ErrFailedPrecondition, []string{"x", "active"}},
		{"view parent", func() error { _, err := s.View(ctx, "x", "view", nil); return err }, errdefs.ErrFailedPrecondition, []string{"x", "view"}},
		{"empty key", func() error { _, err := s.Prepare(ctx, "", "", nil); return err }, errdefs.ErrInvalidArgument, nil},
		{"NUL in key", func() error { _, err := s.Prepare(ctx, "a\x00b", "", nil); return err }, errdefs.ErrInvalidArgument, nil},
		{"stat unknown", func() error { _, err := s.Stat(ctx, "nope"); return err }, errdefs.ErrNotFound, []string{"nope"}},
		{"mounts unknown", func() error { _, err := s.Mounts(ctx, "nope"); return err }, errdefs.ErrNotFound, []string{"nope"}},
		{"mounts of committed", func() error { _, err := s.Mounts(ctx, "committed"); return err }, errdefs.ErrFailedPrecondition, []string{"committed"}},
		{"commit unknown", func() error { return s.Commit(ctx, "x", "nope", nil) }, errdefs.ErrNotFound, []string{"nope"}},
		{"commit view", func() error { return s.Commit(ctx, "x", "view", nil) }, errdefs.ErrFailedPrecondition, []string{"view"}},
		{"commit committed", func() error { return s.Commit(ctx, "x", "committed", nil) }, errdefs.ErrFailedPrecondition, []string{"committed"}},
		{"commit onto existing name", func() error { return s.Commit(ctx, "committed", "active", nil) }, errdefs.ErrAlreadyExists, []string{"active", "committed"}},
		{"commit to empty name", func() error { return s.Commit(ctx, "", "active", nil) }, errdefs.ErrInvalidArgument, nil},
		{"remove unknown", func() error { return s.Remove(ctx, "nope") }, errdefs.ErrNotFound, []string{"nope"}},
		{"remove with children", func() error { return s.Remove(ctx, "committed") }, errdefs.ErrConflict, []string{"committed"}},
		{"usage unknown", func() error { _, err := s.Usage(ctx, "nope"); return err }, errdefs.ErrNotFound, []string{"nope"}},
		{"upper dir of view", func() error { return upper("view") }, errdefs.ErrFailedPrecondition, []string{"view"}},
		{"upper dir of committed", func() error { return upper("committed") }, errdefs.ErrFailedPrecondition, []string{"committed"}},
	}
	for _, tc := range tests {
		e.t.Run(tc.name, func(t *testing.T) {
			wantClass(t, tc.op(), tc.class, tc.names...)
		})
	}
	// Failed calls change nothing and leave no directories behind.
	if got, want := e.names(), []string{"active", "committed", "view"}; !slices.Equal(got, want) {
		e.t.Errorf("after failures walk = %v, want %v", got, want)
	}
	for _, d := range e.snapshotDirs() {
		if _, err := strconv.ParseUint(d, 10, 64); err != nil {
			e.t.Errorf("leftover directory %s", d)
		}
	}
	if d := e.snapshotDirs(); len(d) != 3 {
		e.t.Errorf("snapshot directories %v, want 3", d)
	}
}

func testLabels(e *suiteEnv) {
	t := e.t
	labels := map[string]string{"berth.io/gc.root": "yes", "k": "v"}
	e.prepare("a", "", labels)
	labels["k"] = "changed by caller"
	info := e.stat("a")
	if want := map[string]string{"berth.io/gc.root": "yes", "k": "v"}; !maps.Equal(info.Labels, want) {
		t.Errorf("labels %v, want %v (the caller's map must be copied)", info.Labels, want)
	}
	info.Labels["k"] = "changed via Info"
	if got := e.stat("a").Labels["k"]; got != "v" {
		t.Errorf("label changed through a returned Info: %q", got)
	}
	tests := []struct {
		name   string
		labels map[string]string
		want   map[string]string
	}{
		{"nil keeps the active's labels", nil, map[string]string{"berth.io/gc.root": "yes", "k": "v"}},
		{"given labels replace", map[string]string{"new": "1"}, map[string]string{"new": "1"}},
		{"empty labels clear", map[string]string{}, nil},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key, name := fmt.Sprint("active", i), fmt.Sprint("layer", i)
			e.prepare(key, "", map[string]string{"berth.io/gc.root": "yes", "k": "v"})
			if err := e.s.Commit(e.ctx, name, key, tc.labels); err != nil {
				t.Fatal(err)
			}
			if got := e.stat(name).Labels; !maps.Equal(got, tc.want) {
				t.Errorf("labels %v, want %v", got, tc.want)
			}
		})
	}
}

func testWalk(e *suiteEnv) {
	t := e.t
	e.layer("l1", "", nil)
	e.prepare("p1", "l1", map[string]string{"x": "y"})
	e.view("v1", "l1")
	kinds := map[string]Kind{}
	// fn may call back into the snapshotter.
	err := e.s.Walk(e.ctx, func(i Info) error {
		got, err := e.s.Stat(e.ctx, i.Name)
		if err != nil || got.Kind != i.Kind {
			return fmt.Errorf("stat %q in walk: %+v %v", i.Name, got, err)
		}
		kinds[i.Name] = i.Kind
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]Kind{"l1": KindCommitted, "p1": KindActive, "v1": KindView}; !maps.Equal(kinds, want) {
		t.Errorf("walk saw %v, want %v", kinds, want)
	}
	stop := errors.New("stop")
	calls := 0
	err = e.s.Walk(e.ctx, func(Info) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("walk stopping after one: err %v after %d calls", err, calls)
	}
}

func testRemove(e *suiteEnv) {
	t := e.t
	e.layer("base", "", map[string]string{"f": "1"})
	e.layer("child", "base", map[string]string{"g": "2"})
	e.prepare("active", "child", nil)
	e.view("view", "base")
	steps := []struct {
		key   string
		class error // nil: must succeed
	}{
		{"base", errdefs.ErrConflict},
		{"child", errdefs.ErrConflict},
		{"active", nil},
		{"child", nil},
		{"base", errdefs.ErrConflict}, // the view still uses it
		{"view", nil},
		{"base", nil},
		{"base", errdefs.ErrNotFound},
	}
	for i, st := range steps {
		err := e.s.Remove(e.ctx, st.key)
		if st.class == nil && err != nil {
			t.Fatalf("step %d: remove %q: %v", i, st.key, err)
		}
		if st.class != nil {
			wantClass(t, err, st.class, st.key)
		}
	}
	if n := e.names(); len(n) != 0 {
		t.Errorf("after removing everything walk = %v", n)
	}
	if s, ok := e.s.(interface{ Settle() }); ok {
		s.Settle() // directories are deleted in the background
	}
	if d := e.snapshotDirs(); len(d) != 0 {
		t.Errorf("after removing everything directories %v remain", d)
	}
}

func testUsage(e *suiteEnv) {
	t := e.t
	dw, ok := e.s.(DirectWriter)
	if !ok {
		t.Skip("needs a DirectWriter to place a hard link")
	}
	e.prepare("u", "", nil)
	dir, err := dw.UpperDir(e.ctx, "u")
	if err != nil {
		t.Fatal(err)
	}
	empty, err := e.s.Usage(e.ctx, "u")
	if err != nil {
		t.Fatal(err)
	}
	const size = 1 << 20
	if err := os.WriteFile(filepath.Join(dir, "big"), make([]byte, size), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(dir, "big"), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	u, err := e.s.Usage(e.ctx, "u")
	if err != nil {
		t.Fatal(err)
	}
	if grew := u.Size - empty.Size; grew < size || grew >= 2*size {
		t.Errorf("usage grew by %d bytes for one %d-byte file with two links", grew, size)
	}
	if grew := u.Inodes - empty.Inodes; grew != 1 {
		t.Errorf("inodes grew by %d, want 1", grew)
	}
	e.commit("layer", "u")
	committed, err := e.s.Usage(e.ctx, "layer")
	if err != nil {
		t.Fatal(err)
	}
	if committed != u {
		t.Errorf("committed usage %+v, active was %+v", committed, u)
	}
}

func testReopen(e *suiteEnv) {
	t := e.t
	e.layer("base", "", map[string]string{"f": "1"})
	e.prepare("active", "base", map[string]string{"l": "v"})
	e.view("view", "base")
	before := map[string]Info{}
	e.s.Walk(e.ctx, func(i Info) error { before[i.Name] = i; return nil })

	e.reopen()
	after := map[string]Info{}
	e.s.Walk(e.ctx, func(i Info) error { after[i.Name] = i; return nil })
	if len(after) != len(before) {
		t.Fatalf("after reopen %d snapshots, before %d", len(after), len(before))
	}
	for name, b := range before {
		a := after[name]
		if a.Name != b.Name || a.Parent != b.Parent || a.Kind != b.Kind || !maps.Equal(a.Labels, b.Labels) ||
			!a.Created.Equal(b.Created) || !a.Updated.Equal(b.Updated) {
			t.Errorf("%q after reopen %+v, before %+v", name, a, b)
		}
	}
	// New snapshots must not reuse the directories of existing ones.
	e.layer("next", "base", map[string]string{"g": "2"})
	e.prepare("top", "next", nil)
	if dw, ok := e.s.(DirectWriter); ok {
		a, err := dw.UpperDir(e.ctx, "active")
		if err != nil {
			t.Fatal(err)
		}
		b, err := dw.UpperDir(e.ctx, "top")
		if err != nil {
			t.Fatal(err)
		}
		if a == b {
			t.Errorf("two snapshots share directory %s", a)
		}
	}
	if err := e.s.Remove(e.ctx, "view"); err != nil {
		t.Fatal(err)
	}
}

func testCrashLeftovers(e *suiteEnv) {
	t := e.t
	dw, ok := e.s.(DirectWriter)
	if !ok {
		t.Skip("needs a DirectWriter to find snapshot directories")
	}
	e.layer("keep", "", map[string]string{"f": "kept"})
	e.prepare("interrupted-remove", "keep", nil)
	e.write("interrupted-remove", map[string]string{"g": "restored"})
	upper, err := dw.UpperDir(e.ctx, "interrupted-remove")
	if err != nil {
		t.Fatal(err)
	}
	snapshots := filepath.Join(e.root, "snapshots")
	idDir := filepath.Dir(upper)
	e.s.Close()

	// What crashes leave: a half-filled new snapshot, an id dir whose
	// transaction never committed, the trash of a remove that committed,
	// and the trash of one that did not (its record is still there).
	for _, d := range []string{"new-123/fs/x", "999999/fs/x", "rm-999998/fs/x"} {
		if err := os.MkdirAll(filepath.Join(snapshots, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Rename(idDir, filepath.Join(snapshots, "rm-"+filepath.Base(idDir))); err != nil {
		t.Fatal(err)
	}
	e.s = e.open(t, e.root)

	for _, d := range []string{"new-123", "999999", "rm-999998", "rm-" + filepath.Base(idDir)} {
		if _, err := os.Lstat(filepath.Join(snapshots, d)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("leftover %s still there (%v)", d, err)
		}
	}
	checkTree(t, upper, map[string]string{"g": "restored"})
	if got, want := e.names(), []string{"interrupted-remove", "keep"}; !slices.Equal(got, want) {
		t.Errorf("walk = %v, want %v", got, want)
	}
	if err := e.s.Remove(e.ctx, "interrupted-remove"); err != nil {
		t.Fatal(err)
	}
}

func testMount(e *suiteEnv) {
	t := e.t
	testutil.RequireRoot(t)

	// An empty active snapshot is writable.
	target, unmount := e.mountAt(e.prepare("base-active", "", nil))
	writeTree(t, target, map[string]string{"keep": "k", "del": "d", "dir/x": "x"})
	unmount()
	e.commit("base", "base-active")

	// An empty view is mounted, and read-only.
	target, _ = e.mountAt(e.view("empty-view", ""))
	if err := os.WriteFile(filepath.Join(target, "f"), nil, 0o644); !errors.Is(err, unix.EROFS) {
		t.Errorf("write into empty view: %v, want EROFS", err)
	}

	// An active snapshot sees its parent and changes only itself.
	target, unmount = e.mountAt(e.prepare("child-active", "base", nil))
	checkTree(t, target, map[string]string{"keep": "k", "del": "d", "dir/x": "x"})
	writeTree(t, target, map[string]string{"new": "n", "keep": "changed"})
	if err := os.Remove(filepath.Join(target, "del")); err != nil {
		t.Fatal(err)
	}
	unmount()
	target, _ = e.mountAt(e.view("base-view", "base"))
	checkTree(t, target, map[string]string{"keep": "k", "del": "d", "new": absent})
	if err := os.WriteFile(filepath.Join(target, "keep"), nil, 0o644); !errors.Is(err, unix.EROFS) {
		t.Errorf("write into view: %v, want EROFS", err)
	}
	e.commit("child", "child-active")

	// Two and three layers: views and actives see every layer below them.
	e.layer("grandchild", "child", map[string]string{"dir/y": "y"})
	inChild := map[string]string{"keep": "changed", "del": absent, "new": "n", "dir/x": "x", "dir/y": absent}
	inGrandchild := map[string]string{"keep": "changed", "del": absent, "new": "n", "dir/x": "x", "dir/y": "y"}
	for _, tc := range []struct {
		name  string
		make  func() []Mount
		want  map[string]string
		write bool
	}{
		{"view of two layers", func() []Mount { return e.view("v2", "child") }, inChild, false},
		{"view of three layers", func() []Mount { return e.view("v3", "grandchild") }, inGrandchild, false},
		{"active on three layers", func() []Mount { return e.prepare("a3", "grandchild", nil) }, inGrandchild, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target, _ := e.mountAt(tc.make())
			checkTree(t, target, tc.want)
			err := os.WriteFile(filepath.Join(target, "dir/z"), []byte("z"), 0o644)
			if tc.write && err != nil {
				t.Errorf("write into active: %v", err)
			}
			if !tc.write && !errors.Is(err, unix.EROFS) {
				t.Errorf("write into view: %v, want EROFS", err)
			}
		})
	}
	// Mounts gives the same mounts again later.
	ms, err := e.s.Mounts(e.ctx, "a3")
	if err != nil {
		t.Fatal(err)
	}
	target, _ = e.mountAt(ms)
	checkTree(t, target, map[string]string{"dir/z": "z", "dir/y": "y", "keep": "changed"})
}

func testWhiteouts(e *suiteEnv) {
	t := e.t
	testutil.RequireRoot(t)
	dw, ok := e.s.(DirectWriter)
	if !ok {
		t.Skip("not a DirectWriter")
	}
	e.layer("base", "", map[string]string{"gone": "x", "dir/a": "1", "dir/b": "2", "opq/old": "o", "keep": "k"})
	e.prepare("wh-active", "base", nil)
	up, err := dw.UpperDir(e.ctx, "wh-active")
	if err != nil {
		t.Fatal(err)
	}
	// Write the deletions the way an unpacker must for this mode.
	switch mode := dw.WhiteoutMode(); mode {
	case WhiteoutOverlay:
		if err := os.MkdirAll(filepath.Join(up, "dir"), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"gone", "dir/a"} {
			if err := unix.Mknod(filepath.Join(up, p), unix.S_IFCHR, int(unix.Mkdev(0, 0))); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Mkdir(filepath.Join(up, "opq"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := unix.Setxattr(filepath.Join(up, "opq"), "trusted.overlay.opaque", []byte("y"), 0); err != nil {
			t.Fatal(err)
		}
	case WhiteoutDelete:
		for _, p := range []string{"gone", "dir/a", "opq/old"} {
			if err := os.Remove(filepath.Join(up, p)); err != nil {
				t.Fatal(err)
			}
		}
	default:
		t.Fatalf("whiteout mode %v", mode)
	}
	writeTree(t, up, map[string]string{"opq/new": "n"})
	e.commit("wh", "wh-active")
	e.layer("top", "wh", map[string]string{"t": "t"}) // so the view stacks several layers
	want := map[string]string{"gone": absent, "dir/a": absent, "dir/b": "2", "opq/old": absent, "opq/new": "n", "keep": "k", "t": "t"}
	for _, tc := range []struct {
		name string
		make func() []Mount
	}{
		{"view", func() []Mount { return e.view("view", "top") }},
		{"active", func() []Mount { return e.prepare("active", "top", nil) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target, _ := e.mountAt(tc.make())
			checkTree(t, target, want)
			entries, err := os.ReadDir(filepath.Join(target, "opq"))
			if err != nil || len(entries) != 1 {
				t.Errorf("opaque dir holds %v (%v), want only new", entries, err)
			}
		})
	}
}

func testConcurrent(e *suiteEnv) {
	t := e.t
	e.layer("base", "", map[string]string{"f": "1"})
	const workers = 6
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key, name := fmt.Sprint("active", i), fmt.Sprint("layer", i)
			steps := []func() error{
				func() error { _, err := e.s.Prepare(e.ctx, key, "base", nil); return err },
				func() error { return e.s.Commit(e.ctx, name, key, nil) },
				func() error { _, err := e.s.View(e.ctx, "view"+name, name, nil); return err },
				func() error { return e.s.Remove(e.ctx, "view"+name) },
				func() error { _, err := e.s.Prepare(e.ctx, key, name, nil); return err },
			}
			for _, step := range steps {
				if err := step(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := len(e.names()); got != 1+2*workers {
		t.Errorf("%d snapshots, want %d", got, 1+2*workers)
	}
}
