package snapshot

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/testutil"
)

func TestCommonDirAndRelocate(t *testing.T) {
	dirs := []string{"/s/snapshots/3/fs", "/s/snapshots/1/fs", "/s/snapshots/12/fs"}
	if got := commonDir(dirs); got != "/s/snapshots" {
		t.Fatalf("commonDir: %s", got)
	}
	if got := commonDir([]string{"/a/b", "/a/bc"}); got != "/a" {
		t.Fatalf("commonDir of siblings sharing a prefix: %s", got)
	}
	m := Mount{Type: "overlay", Source: "overlay", Options: []string{"index=off", "lowerdir=/s/snapshots/3/fs:/s/snapshots/1/fs", "upperdir=/s/snapshots/9/fs", "workdir=/s/snapshots/9/work"}}
	got := m.relocate("/s/snapshots", "/v")
	want := []string{"index=off", "lowerdir=/v/3/fs:/v/1/fs", "upperdir=/s/snapshots/9/fs", "workdir=/s/snapshots/9/work"}
	if fmt.Sprint(got.Options) != fmt.Sprint(want) || got.Source != "overlay" {
		t.Fatalf("relocate: %+v", got)
	}
}

// TestMountAllIDMapped: through an overlay of idmapped lower layers, files
// owned by host root belong to the namespace's root (host id 100000),
// which can write to the top directory and to those files (copied up as
// its own).
func TestMountAllIDMapped(t *testing.T) {
	testutil.RequireRoot(t)
	dir := t.TempDir()
	for _, p := range []string{dir, filepath.Dir(dir)} {
		os.Chmod(p, 0o711) // reachable by the mapped root
	}
	for _, d := range []string{"lower", "upper", "work", "merged"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "lower", "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A user namespace held by a sleeping process.
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 100000, Size: 65536}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 100000, Size: 65536}}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	userns := fmt.Sprintf("/proc/%d/ns/user", cmd.Process.Pid)
	merged := filepath.Join(dir, "merged")
	ms := []Mount{{Type: "overlay", Source: "overlay", Options: []string{
		"lowerdir=" + filepath.Join(dir, "lower"), "upperdir=" + filepath.Join(dir, "upper"), "workdir=" + filepath.Join(dir, "work")}}}
	if err := MountAllIDMapped(ms, merged, userns, 100000, 100000); err != nil {
		t.Fatal(err)
	}
	defer UnmountAll(merged)
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(merged, "f"), &st); err != nil || st.Uid != 100000 {
		t.Fatalf("lower file through the idmapped overlay: uid %d %v, want 100000", st.Uid, err)
	}
	// Written as the namespace's root (host 100000): on disk as 0.
	w := exec.Command("sh", "-c", "echo y > "+filepath.Join(merged, "new")+" && echo z >> "+filepath.Join(merged, "f"))
	w.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 100000, Gid: 100000}}
	if out, err := w.CombinedOutput(); err != nil {
		t.Fatalf("write as the mapped root: %v: %s", err, out)
	}
	for _, f := range []string{"new", "f"} {
		if err := unix.Stat(filepath.Join(dir, "upper", f), &st); err != nil || st.Uid != 100000 {
			t.Errorf("upper/%s on disk: uid %d %v, want 100000", f, st.Uid, err)
		}
	}
	if err := unix.Stat(filepath.Join(dir, "lower", "f"), &st); err != nil || st.Uid != 0 {
		t.Errorf("lower/f changed: uid %d %v", st.Uid, err)
	}
	// The idmapped views are gone; only the overlay is left.
	if es, _ := filepath.Glob(merged + ".idmap*"); len(es) != 0 {
		t.Errorf("views left: %v", es)
	}
}
