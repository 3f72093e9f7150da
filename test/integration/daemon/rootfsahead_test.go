package daemon_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rootfsSpare waits for the rootfs made ahead for the next container and
// returns its ID; not the one given (a spare that was replaced).
func (d *daemon) rootfsSpare(not string) string {
	d.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		marks, _ := filepath.Glob(filepath.Join(d.state, "containers", "*", "rootfs-spare"))
		for _, m := range marks {
			dir := filepath.Dir(m)
			if id := filepath.Base(dir); id != not && len(mountsAt(filepath.Join(dir, "rootfs"))) > 0 {
				return id
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	d.t.Fatal("no rootfs made ahead")
	return ""
}

func mountsAt(path string) []string {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && f[4] == path {
			out = append(out, l)
		}
	}
	return out
}

// After a start, the daemon makes the writable layer of the next
// container from the same image and mounts it; the next create of that
// image (and the same --rm) takes it: its ID is the container's. One made
// for something else is replaced; a failed create, removing the image and
// stopping the daemon leave nothing of it.
func TestRootfsAhead(t *testing.T) {
	d := startDaemon(t, "[containers]\nrootfs_ahead = true\n")
	img := busybox(t)
	d.berth("pull", img)
	d.berth("run", "--rm", "--network", "none", img, "true")

	// Made for a --rm container: a detached one does not take it, and the
	// next is made for what that was.
	rm := d.rootfsSpare("")
	id := strings.TrimSpace(d.berth("run", "-d", "--name", "a", "--network", "none", img, "sh", "-c", "echo hi > /f; exec sleep 300"))
	if id == rm {
		t.Fatal("a container without --rm took the rootfs made for --rm")
	}
	keep := d.rootfsSpare(rm)
	if _, err := os.Stat(filepath.Join(d.state, "containers", rm)); !os.IsNotExist(err) || len(mountsAt(filepath.Join(d.state, "containers", rm, "rootfs"))) > 0 {
		t.Errorf("the replaced rootfs %s is left: %v", rm, err)
	}

	id = strings.TrimSpace(d.berth("run", "-d", "--name", "b", "--network", "none", img, "sh", "-c", "echo there > /f; exec sleep 300"))
	if id != keep {
		t.Fatalf("container %s did not take the rootfs made ahead (%s)", id, keep)
	}
	if _, err := os.Stat(filepath.Join(d.state, "containers", id, "rootfs-spare")); !os.IsNotExist(err) {
		t.Errorf("the container's bundle still says it is a spare: %v", err)
	}
	if out := strings.TrimSpace(d.berth("exec", "b", "cat", "/f")); out != "there" {
		t.Errorf("b's file: %q", out)
	}
	if out := strings.TrimSpace(d.berth("exec", "a", "cat", "/f")); out != "hi" {
		t.Errorf("a's file: %q", out)
	}
	if out := strings.TrimSpace(d.berth("exec", "b", "hostname")); out != id[:12] {
		t.Errorf("hostname %q, want %q", out, id[:12])
	}
	d.berth("rm", "-f", "a", "b")

	// A create that fails after taking it (a bad capability, a name in
	// use) takes it down with it; one that fails before leaves it. (The
	// spare is b's kind: without --rm; each detached run of true makes
	// the next.)
	spare := d.rootfsSpare("")
	if msg := d.berthFail("create", "--cpus=-1", img); !strings.Contains(msg, "cpus") {
		t.Fatalf("create --cpus=-1: %q", msg)
	}
	if d.rootfsSpare("") != spare {
		t.Fatal("a create refused before it began replaced the rootfs made ahead")
	}
	d.berth("create", "--name", "taken", img) // takes that one
	for _, args := range [][]string{{"--cap-add", "NOPE"}, {"--name", "taken"}} {
		d.berth("rm", "-f", strings.TrimSpace(d.berth("run", "-d", "--network", "none", img, "true")))
		spare := d.rootfsSpare("")
		if msg := d.berthFail(append(append([]string{"create"}, args...), img)...); msg == "" {
			t.Fatalf("create %v did not fail", args)
		}
		if _, err := os.Stat(filepath.Join(d.state, "containers", spare)); !os.IsNotExist(err) {
			t.Errorf("create %v failed and left the rootfs made ahead: %v", args, err)
		}
		if m := mountsAt(filepath.Join(d.state, "containers", spare, "rootfs")); len(m) > 0 {
			t.Errorf("create %v failed and left its mount: %v", args, m)
		}
	}
	d.berth("rm", "taken")

	// Removing the image drops the rootfs made from it.
	d.berth("run", "--rm", "--network", "none", img, "true")
	spare = d.rootfsSpare("")
	d.berth("rmi", img)
	if _, err := os.Stat(filepath.Join(d.state, "containers", spare)); !os.IsNotExist(err) {
		t.Errorf("rmi left the rootfs made ahead: %v", err)
	}
	if _, snaps, _ := d.counts(); snaps != 0 {
		t.Errorf("%d snapshots left after rmi", snaps)
	}

	// And a daemon that stops takes its spare with it.
	d.berth("pull", img)
	d.berth("run", "--rm", "--network", "none", img, "true")
	spare = d.rootfsSpare("")
	d.stop()
	if m := mountsAt(filepath.Join(d.state, "containers", spare, "rootfs")); len(m) > 0 {
		t.Errorf("rootfs made ahead still mounted after the daemon stopped: %v", m)
	}
	d.start()
	if _, snaps, _ := d.counts(); snaps != 1 {
		t.Errorf("%d snapshots after a restart, want the image's 1", snaps)
	}
}
