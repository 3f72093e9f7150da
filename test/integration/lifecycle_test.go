package integration

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
)

func TestRunExitStatus(t *testing.T) {
	r := newRT(t)
	tests := []struct {
		script string
		code   int
	}{
		{"exit 0", 0},
		{"exit 3", 3},
		{"kill -KILL $$", 137},
		{"kill -TERM $$", 143},
		{"echo out; echo err >&2; exit 0", 0},
	}
	// Not pid 1 of a pid namespace, which ignores signals it has no handler for.
	noPidNS := func(s *specs.Spec) { removeNS(s, specs.PIDNamespace) }
	for _, tc := range tests {
		res := r.runSh(noPidNS, tc.script)
		if res.code != tc.code {
			t.Errorf("%q: %s; want exit %d", tc.script, res, tc.code)
		}
	}
	res := r.runSh(nil, "echo out; echo err >&2")
	if res.stdout != "out\n" || res.stderr != "err\n" {
		t.Errorf("stdio not kept apart: %s", res)
	}
}

func TestLifecycle(t *testing.T) {
	r := newRT(t)
	b := bundle(t, nil, "sleep", "1000")
	pidFile := filepath.Join(t.TempDir(), "pid")
	r.must("create", "--bundle", b, "--pid-file", pidFile, "life")
	st := r.state("life")
	if st.Status != "created" || st.Pid <= 0 || st.Bundle != b || st.ID != "life" {
		t.Fatalf("after create: %+v", st)
	}
	pidb, err := os.ReadFile(pidFile)
	if err != nil || string(pidb) != strconv.Itoa(st.Pid) {
		t.Fatalf("pid file %q (%v), state pid %d", pidb, err, st.Pid)
	}
	// Before start the init is berth-oci waiting on the fifo, not sleep.
	if cmd, _ := os.ReadFile("/proc/" + strconv.Itoa(st.Pid) + "/cmdline"); strings.HasPrefix(string(cmd), "sleep") {
		t.Fatal("user process ran before start")
	}
	if res := r.run("create", "--bundle", b, "life"); res.code == 0 || !strings.Contains(res.stderr, "already exists") {
		t.Fatalf("duplicate id: %s", res)
	}
	r.must("start", "life")
	if st := r.state("life"); st.Status != "running" {
		t.Fatalf("after start: %s", st.Status)
	}
	if res := r.run("start", "life"); res.code == 0 {
		t.Fatal("second start succeeded")
	}
	cmd, _ := os.ReadFile("/proc/" + strconv.Itoa(st.Pid) + "/cmdline")
	if !strings.HasPrefix(string(cmd), "sleep") {
		t.Fatalf("init is %q after start", cmd)
	}
	list := r.must("list")
	if !strings.Contains(list, "life") || !strings.Contains(list, "running") {
		t.Fatalf("list: %s", list)
	}
	if res := r.run("delete", "life"); res.code == 0 || !strings.Contains(res.stderr, "not stopped") {
		t.Fatalf("delete of a running container: %s", res)
	}
	r.must("kill", "life", "KILL")
	r.waitStatus("life", "stopped")
	if res := r.run("kill", "life", "TERM"); res.code == 0 {
		t.Fatal("kill of a stopped container succeeded")
	}
	r.must("delete", "life")
	if _, err := os.Stat(filepath.Join(r.root, "life")); !os.IsNotExist(err) {
		t.Fatalf("state dir left behind: %v", err)
	}
	if res := r.run("state", "life"); res.code == 0 || !strings.Contains(res.stderr, "does not exist") {
		t.Fatalf("state after delete: %s", res)
	}
}

func TestDeleteForceAndCreated(t *testing.T) {
	r := newRT(t)
	b := bundle(t, nil, "sleep", "1000")
	r.must("run", "-d", "--bundle", b, "forced")
	pid := r.state("forced").Pid
	r.must("delete", "-f", "forced")
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
		if s, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); !strings.Contains(string(s), ") Z") {
			t.Fatalf("process %d survived delete -f", pid)
		}
	}
	// A created (never started) container is not stopped: the spec says
	// delete must refuse it and leave it be; --force removes it.
	r.must("create", "--bundle", b, "made")
	if res := r.run("delete", "made"); res.code == 0 || !strings.Contains(res.stderr, "not stopped: created") {
		t.Fatalf("delete of a created container: %s", res)
	}
	if st := r.state("made"); st.Status != "created" {
		t.Fatalf("refused delete changed the container: %s", st.Status)
	}
	r.must("delete", "-f", "made")
	if out := r.must("list", "-q"); strings.TrimSpace(out) != "" {
		t.Fatalf("left: %q", out)
	}
}

func TestKillSignals(t *testing.T) {
	r := newRT(t)
	b := bundle(t, nil, "sh", "-c", "trap 'exit 42' USR1; while true; do sleep 0.1; done")
	r.must("run", "-d", "--bundle", b, "sig")
	if res := r.run("kill", "sig", "NOTASIG"); res.code == 0 || !strings.Contains(res.stderr, `"NOTASIG"`) {
		t.Fatalf("bad signal name: %s", res)
	}
	r.must("kill", "sig", "SIGUSR1")
	r.waitStatus("sig", "stopped")
	// --all reaches every process in the cgroup.
	b2 := bundle(t, func(s *specs.Spec) { removeNS(s, specs.PIDNamespace) }, "sh", "-c", "sleep 1000 & sleep 1000")
	r.must("run", "-d", "--bundle", b2, "all")
	r.must("kill", "--all", "all", "KILL")
	r.waitStatus("all", "stopped")
	var pids []int
	if out := r.run("ps", "--format", "json", "all"); out.code == 0 {
		_ = pids
		if strings.TrimSpace(out.stdout) != "[]" {
			t.Fatalf("processes left after kill --all: %s", out.stdout)
		}
	}
}

func TestPauseResume(t *testing.T) {
	r := newRT(t)
	b := bundle(t, nil, "sleep", "1000")
	r.must("run", "-d", "--bundle", b, "frz")
	r.must("pause", "frz")
	if st := r.state("frz"); st.Status != "paused" {
		t.Fatalf("after pause: %s", st.Status)
	}
	if res := r.run("pause", "frz"); res.code == 0 {
		t.Fatal("pausing a paused container succeeded")
	}
	r.must("resume", "frz")
	if st := r.state("frz"); st.Status != "running" {
		t.Fatalf("after resume: %s", st.Status)
	}
	if res := r.run("resume", "frz"); res.code == 0 {
		t.Fatal("resuming a running container succeeded")
	}
	// A paused container can be force-deleted.
	r.must("pause", "frz")
	r.must("delete", "-f", "frz")
}

// The init runs boosted while it sets up; the container's process must get
// the runtime's own nice value back.
func TestContainerNiceIsRuntimes(t *testing.T) {
	r := newRT(t)
	for _, n := range []string{"0", "3"} {
		b := bundle(t, nil, "sh", "-c", "cut -d' ' -f19 /proc/self/stat")
		cmd := exec.Command("nice", "-n", n, ociBin, "--root", r.root, "run", "--bundle", b, "nice"+n)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("run under nice %s: %v %s", n, err, out)
		}
		if strings.TrimSpace(string(out)) != n {
			t.Fatalf("container nice %q, runtime ran at %s", out, n)
		}
	}
}

// A foreground run forwards signals to the container, also on a one-CPU
// host (the runtime waits with raw system calls, which hold their P).
func TestRunForwardsSignals(t *testing.T) {
	r := newRT(t)
	b := bundle(t, nil, "sh", "-c", `trap "echo got-term; exit 7" TERM; while true; do sleep 0.05; done`)
	for _, cpus := range []string{"0", "0-1"} {
		cmd := exec.Command("taskset", "-c", cpus, ociBin, "--root", r.root, "run", "--bundle", b, "fwd"+strings.ReplaceAll(cpus, "-", ""))
		out := tempFile(t)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(700 * time.Millisecond)
		cmd.Process.Signal(syscall.SIGTERM)
		err := cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 7 || !strings.Contains(readBack(t, out), "got-term") {
			t.Fatalf("cpus %s: %v, output %q; want the container's exit 7 after TERM", cpus, err, readBack(t, out))
		}
	}
}
