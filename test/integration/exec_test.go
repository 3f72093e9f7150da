package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// execTarget runs a detached `sleep 1000` container with a hostname and a
// tmpfs of its own, and returns its init pid.
func execTarget(t *testing.T, r *rt, id string) (pid int, cgPath string) {
	t.Helper()
	b := bundle(t, func(s *specs.Spec) {
		s.Hostname = "exec-host"
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/execmnt", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m"}})
	}, "sleep", "1000")
	r.must("run", "-d", "--bundle", b, id)
	return r.state(id).Pid, readSpec(t, b).Linux.CgroupsPath
}

func TestExec(t *testing.T) {
	r := newRT(t)
	execTarget(t, r, "ex")
	tests := []struct {
		name string
		args []string // between "exec" and the id
		cmd  []string
		out  string
		code int
	}{
		{"sees init", nil, []string{"cat", "/proc/1/cmdline"}, "sleep\x001000\x00", 0},
		{"hostname", nil, []string{"hostname"}, "exec-host\n", 0},
		{"mounts", nil, []string{"sh", "-c", "grep -c ' /execmnt tmpfs ' /proc/self/mounts"}, "1\n", 0},
		{"exit code", nil, []string{"sh", "-c", "exit 7"}, "", 7},
		{"killed by signal", nil, []string{"sh", "-c", "kill -KILL $$"}, "", 137},
		{"env", []string{"--env", "FOO=bar", "--env", "BAZ=qux"}, []string{"sh", "-c", "echo $FOO $BAZ"}, "bar qux\n", 0},
		{"env keeps the spec's PATH", nil, []string{"sh", "-c", "echo $PATH"}, "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n", 0},
		{"cwd", []string{"--cwd", "/tmp"}, []string{"pwd"}, "/tmp\n", 0},
		{"user", []string{"--user", "65534:65534"}, []string{"sh", "-c", "echo $(id -u) $(id -g)"}, "65534 65534\n", 0},
		{"not found", nil, []string{"/bin/nope"}, "", -1},
	}
	for _, tc := range tests {
		res := r.run(append(append(append([]string{"exec"}, tc.args...), "ex"), tc.cmd...)...)
		switch {
		case tc.code == -1:
			if res.code == 0 || !strings.Contains(res.stderr, "/bin/nope") {
				t.Errorf("%s: %s", tc.name, res)
			}
		case res.code != tc.code || res.stdout != tc.out:
			t.Errorf("%s: %s; want exit %d, stdout %q", tc.name, res, tc.code, tc.out)
		}
	}
	if res := r.runIn([]byte("hello\n"), "exec", "ex", "sh", "-c", "read x; echo got $x"); res.stdout != "got hello\n" {
		t.Errorf("stdin: %s", res)
	}
	if st := r.state("ex"); st.Status != "running" {
		t.Fatalf("container %s after the execs", st.Status)
	}
}

func TestExecDetachedPidFile(t *testing.T) {
	r := newRT(t)
	initPid, cgPath := execTarget(t, r, "exd")
	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	start := time.Now()
	r.must("exec", "--detach", "--pid-file", pidFile, "exd", "sleep", "100")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("exec --detach took %v", d)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		t.Fatalf("pid file %q", b)
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("exec'd pid %d not alive: %v", pid, err)
	}
	// exec -d may return while the process is still on its way to execve.
	var cmd []byte
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cmd, _ = os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); string(cmd) == "sleep\x00100\x00" {
			break
		}
	}
	if string(cmd) != "sleep\x00100\x00" {
		t.Errorf("pid %d runs %q", pid, cmd)
	}
	for _, ctrl := range []string{"pids", "memory", "cpu", "devices", "freezer"} {
		procs, ok := cgFile(t, ctrl, cgPath, "cgroup.procs")
		if !ok || !containsLine(procs, strconv.Itoa(pid)) {
			t.Errorf("exec'd pid %d not in %s:%s (%q)", pid, ctrl, cgPath, procs)
		}
	}
	// Same namespaces as init.
	for _, n := range []string{"pid", "net", "ipc", "uts", "mnt", "cgroup", "user", "time"} {
		want := hostNS(t, strconv.Itoa(initPid), n)
		if n == "pid" || n == "time" {
			// An exec'd process sits in the namespace init's children get.
			want = readlink(t, "/proc/"+strconv.Itoa(initPid)+"/ns/"+n+"_for_children")
		}
		if got := hostNS(t, strconv.Itoa(pid), n); got != want {
			t.Errorf("%s: exec'd process in %s, init in %s", n, got, want)
		}
	}
	// Same root as init.
	if a, b := readlink(t, "/proc/"+strconv.Itoa(pid)+"/root"), readlink(t, "/proc/"+strconv.Itoa(initPid)+"/root"); a != b {
		t.Errorf("root: exec'd %s, init %s", a, b)
	}
	// ps lists it; killing the container takes it too.
	if out := r.must("ps", "--format", "json", "exd"); !strings.Contains(out, strconv.Itoa(pid)) {
		t.Errorf("ps does not list the exec'd pid %d: %s", pid, out)
	}
	r.must("kill", "--all", "exd", "KILL")
	r.waitStatus("exd", "stopped")
}

func TestExecProcessFile(t *testing.T) {
	r := newRT(t)
	execTarget(t, r, "exp")
	p := filepath.Join(t.TempDir(), "process.json")
	spec := `{"args": ["sh", "-c", "echo $P; pwd; id -u; grep NoNewPrivs /proc/self/status"],
		"env": ["P=from-file", "PATH=/bin"], "cwd": "/dev", "user": {"uid": 65534, "gid": 65534},
		"noNewPrivileges": true}`
	if err := os.WriteFile(p, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	out := r.must("exec", "--process", p, "exp")
	if f := strings.Fields(out); strings.Join(f, " ") != "from-file /dev 65534 NoNewPrivs: 1" {
		t.Errorf("exec --process: %q", out)
	}
	if err := os.WriteFile(p, []byte(`{"args": [`), 0o644); err != nil {
		t.Fatal(err)
	}
	if res := r.run("exec", "--process", p, "exp"); res.code == 0 || !strings.Contains(res.stderr, "process") {
		t.Errorf("malformed process.json: %s", res)
	}
}

func TestExecNotRunning(t *testing.T) {
	r := newRT(t)
	b := bundle(t, nil, "true")
	r.must("run", "-d", "--bundle", b, "done")
	r.waitStatus("done", "stopped")
	res := r.run("exec", "done", "true")
	if res.code == 0 || !containsAny(res.stderr, []string{"stopped", "not running"}) {
		t.Errorf("exec into a stopped container: %s", res)
	}
	res = r.run("exec", "nosuch", "true")
	if res.code == 0 || !strings.Contains(res.stderr, "nosuch") {
		t.Errorf("exec into an unknown container: %s", res)
	}
}
