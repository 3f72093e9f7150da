package daemon_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// spareInit waits for the spare shim's pre-forked init (oci.PreforkInit)
// and returns its pid.
func (d *daemon) spareInit() int {
	d.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		dirs, _ := filepath.Glob(filepath.Join(d.state, "shims", "spare-*"))
		for _, dir := range dirs {
			b, _ := os.ReadFile(filepath.Join(dir, "shim.pid"))
			shim := strings.TrimSpace(string(b))
			if shim == "" {
				continue
			}
			// Each thread lists the children it forked.
			var kids []string
			tasks, _ := filepath.Glob("/proc/" + shim + "/task/*/children")
			for _, task := range tasks {
				b, _ := os.ReadFile(task)
				kids = append(kids, strings.Fields(string(b))...)
			}
			if len(kids) == 1 {
				pid, _ := strconv.Atoi(kids[0])
				return pid
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	d.t.Fatal("no spare shim with a pre-forked init")
	return 0
}

func nsOf(t *testing.T, pid, kind string) string {
	t.Helper()
	l, err := os.Readlink("/proc/" + pid + "/ns/" + kind)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// A spare shim forks its container's init ahead (in a new pid namespace
// only); the container that takes the spare gets that process as its init,
// in namespaces of its own made when it came, with its stdio and the pool's
// network namespace. A container the spare cannot serve (the host's pid
// namespace) gets a fresh init, and the spare is killed and reaped.
func TestSpareInit(t *testing.T) {
	d := startDaemon(t, "")
	img := busybox(t)
	d.berth("pull", img)
	// The first container's start launches the spare shim.
	d.berth("run", "--rm", "--network", "none", img, "true")

	spare := d.spareInit()
	id := strings.TrimSpace(d.berth("run", "-d", "--name", "s1", "--network", "none", "--hostname", "spared", img,
		"sh", "-c", "echo out; echo err >&2; exec sleep 300"))
	pid := d.inspectC("s1", "{{.State.Pid}}")
	if pid != strconv.Itoa(spare) {
		t.Fatalf("container init is pid %s, the spare's init was %d", pid, spare)
	}
	for _, kind := range []string{"mnt", "uts", "ipc", "pid", "net"} {
		if nsOf(t, pid, kind) == nsOf(t, "self", kind) {
			t.Errorf("%s namespace is the host's", kind)
		}
	}
	if out := strings.TrimSpace(d.berth("exec", "s1", "hostname")); out != "spared" {
		t.Errorf("hostname: %q", out)
	}
	// Its own pid namespace: the container's process is 1 there.
	if out := strings.TrimSpace(d.berth("exec", "s1", "cat", "/proc/1/cmdline")); !strings.HasPrefix(out, "sleep") {
		t.Errorf("pid 1 of the container runs %q", out)
	}
	time.Sleep(100 * time.Millisecond)
	if out := d.berth("logs", "s1"); !strings.Contains(out, "out") {
		t.Errorf("logs: %q", out)
	}
	if _, errOut, _ := d.run(binary(t, "BERTH", "berth"), "logs", "s1"); !strings.Contains(errOut, "err") {
		t.Errorf("logs on stderr: %q", errOut)
	}
	// Runs at the daemon's priority, not the init's boost or the spare's
	// idle class.
	b, _ := os.ReadFile("/proc/" + pid + "/stat")
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	if nice := f[16]; nice != "0" {
		t.Errorf("container process nice %s", nice)
	}
	p, _ := strconv.Atoi(pid)
	if a, err := unix.SchedGetAttr(p, 0); err != nil || a.Policy != unix.SCHED_NORMAL {
		t.Errorf("container process scheduling policy %+v, %v", a, err)
	}
	d.berth("rm", "-f", id)

	// The host's pid namespace: the spare cannot be its pid 1.
	spare = d.spareInit()
	d.docker("run", "-d", "--name", "s2", "--pid", "host", img, "sleep", "300")
	pid = d.inspectC("s2", "{{.State.Pid}}")
	if pid == strconv.Itoa(spare) {
		t.Fatal("a --pid host container got the spare init")
	}
	if nsOf(t, pid, "pid") != nsOf(t, "self", "pid") {
		t.Error("--pid host container not in the host's pid namespace")
	}
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(spare, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("the unused spare init %d is still there", spare)
		}
		time.Sleep(20 * time.Millisecond)
	}
	d.berth("rm", "-f", "s2")

	// Another runtime (runc, when installed): the shim runs its binary,
	// and the spare's init is of no use.
	if _, err := exec.LookPath("runc"); err == nil {
		spare = d.spareInit()
		if out := strings.TrimSpace(d.berth("run", "--rm", "--runtime", "runc", "--network", "none", img, "echo", "via runc")); out != "via runc" {
			t.Errorf("run --runtime runc: %q", out)
		}
		deadline := time.Now().Add(5 * time.Second)
		for syscall.Kill(spare, 0) == nil {
			if time.Now().After(deadline) {
				t.Fatalf("the spare init %d of a runc container is still there", spare)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// A daemon that stops takes its spare's init with it.
	spare = d.spareInit()
	d.stop()
	deadline = time.Now().Add(5 * time.Second)
	for {
		// Gone, or a zombie of this VM's pid 1, which does not reap.
		b, err := os.ReadFile("/proc/" + strconv.Itoa(spare) + "/stat")
		if err != nil || strings.Contains(string(b), ") Z ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("spare init %d left running after the daemon stopped", spare)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
