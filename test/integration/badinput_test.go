package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// hostSnapshot is what a failed create must leave as it found: the host's
// mount table and the set of berth-oci init processes.
type hostSnapshot struct {
	mounts map[string]int
	inits  map[int]bool
}

func snapshotHost(t *testing.T) hostSnapshot {
	t.Helper()
	return hostSnapshot{mounts: hostMounts(t), inits: berthInits()}
}

// hostMounts counts the test process's (the host's) mounts by mount point and
// filesystem type, leaving out other engines' mounts.
func hostMounts(t *testing.T) map[string]int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		fstype := ""
		if i := slices.Index(f, "-"); i >= 0 && i+1 < len(f) {
			fstype = f[i+1]
		}
		if len(f) > 4 && !foreignMount(f[4]) {
			m[f[4]+" "+fstype]++
		}
	}
	return m
}

// foreignMount is a mount point of other engines (podman, containerd,
// docker) that tests running concurrently on this machine may add or remove.
func foreignMount(p string) bool {
	for _, prefix := range []string{
		"/var/lib/containers/", "/var/lib/containerd/", "/var/lib/docker/", "/var/lib/cni/",
		"/run/containers/", "/run/containerd/", "/run/docker/", "/run/netns/", "/run/user/",
		"/var/run/containerd/", "/var/run/docker/", "/var/run/netns/",
	} {
		if strings.HasPrefix(p, prefix) {
			return true
		}
	}
	return false
}

// berthInits lists the processes running `berth-oci init` (a container's init
// before it execs the user process, or one left behind).
func berthInits() map[int]bool {
	out := map[int]bool{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && strings.HasPrefix(string(b), "berth-oci\x00init") {
			out[pid] = true
		}
	}
	return out
}

// memCgroup is the memory cgroup of pid ("" if unknown).
func memCgroup(pid string) string {
	b, _ := os.ReadFile("/proc/" + pid + "/cgroup")
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.SplitN(line, ":", 3); len(f) == 3 && f[1] == "memory" {
			return f[2]
		}
	}
	return ""
}

// newInits lists berth-oci inits not in before that belong to this test: in
// cgPath, or still in the test's own cgroup (not yet moved). Other runtimes'
// tests (a conformance suite) may be running theirs concurrently.
func newInits(before map[int]bool, cgPath string) []int {
	self := memCgroup("self")
	var out []int
	for pid := range berthInits() {
		if before[pid] {
			continue
		}
		if cg := memCgroup(strconv.Itoa(pid)); cg == self || (cgPath != "" && cg == cgPath) {
			out = append(out, pid)
		}
	}
	return out
}

// assertNoLeftovers checks that nothing of a container that failed to be
// created survives: no state dir under --root, no cgroup for cgPath, no new
// host mount, no new berth-oci init process.
func (r *rt) assertNoLeftovers(before hostSnapshot, cgPath string) {
	t := r.t
	t.Helper()
	if ents, err := os.ReadDir(r.root); err == nil {
		for _, e := range ents {
			if e.IsDir() {
				t.Errorf("state dir left under --root: %s", e.Name())
			}
		}
	}
	if cgPath != "" {
		for _, ctrl := range []string{"memory", "pids", "cpu", "devices", "freezer", "blkio", "cpuset"} {
			if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", ctrl, cgPath)); err == nil {
				t.Errorf("cgroup left behind: /sys/fs/cgroup/%s%s", ctrl, cgPath)
			}
		}
	}
	after := hostMounts(t)
	for k, n := range after {
		if n > before.mounts[k] {
			t.Errorf("host mount added: %s (%d -> %d)", k, before.mounts[k], n)
		}
	}
	for k, n := range before.mounts {
		if after[k] < n {
			t.Errorf("host mount removed: %s (%d -> %d)", k, n, after[k])
		}
	}
	// An init being torn down may take a moment to be reaped.
	var leaked []int
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if leaked = newInits(before.inits, cgPath); len(leaked) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, pid := range leaked {
		cg, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		t.Errorf("berth-oci init %d left running (cgroups: %s)", pid, strings.ReplaceAll(strings.TrimSpace(string(cg)), "\n", " "))
	}
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func TestCreateBadInput(t *testing.T) {
	addMount := func(m specs.Mount) func(*specs.Spec) {
		return func(s *specs.Spec) { s.Mounts = append(s.Mounts, m) }
	}
	tests := []struct {
		name string
		id   string // default "bad"
		edit func(*specs.Spec)
		raw  string // written as config.json instead of the edited spec
		want []string
	}{
		{name: "malformed json", raw: `{"ociVersion": "1.0.2", "process": {`, want: []string{"config.json"}},
		{name: "ociVersion 2.0.0", edit: func(s *specs.Spec) { s.Version = "2.0.0" }, want: []string{"ociVersion"}},
		{name: "ociVersion 0.5.0", edit: func(s *specs.Spec) { s.Version = "0.5.0" }, want: []string{"ociVersion"}},
		{name: "missing rootfs", edit: func(s *specs.Spec) { s.Root.Path = "no-such-rootfs" }, want: []string{"root.path", "no-such-rootfs"}},
		{
			name: "relative mount destination",
			edit: addMount(specs.Mount{Destination: "../../etc", Type: "tmpfs", Source: "tmpfs"}),
			want: []string{"mounts["},
		},
		{
			name: "unknown capability",
			edit: func(s *specs.Spec) {
				s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_FOO")
			},
			want: []string{"CAP_FOO"},
		},
		{name: "invalid id ../x", id: "../x", want: []string{"id", "ID"}},
		{name: "invalid id empty", id: "", want: []string{"id", "ID"}},
		{name: "invalid id a/b", id: "a/b", want: []string{"id", "ID"}},
		{name: "invalid id 2000 chars", id: strings.Repeat("x", 2000), want: []string{"id", "ID"}},
		// Passes a length limit above NAME_MAX: must still fail cleanly.
		{name: "invalid id 300 chars", id: strings.Repeat("y", 300), want: []string{"id", "ID", "too long"}},
		{
			name: "unknown namespace type",
			edit: func(s *specs.Spec) {
				s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "bogus"})
			},
			want: []string{"bogus"},
		},
		{
			name: "hostname without uts namespace",
			edit: func(s *specs.Spec) { removeNS(s, specs.UTSNamespace); s.Hostname = "nope" },
			want: []string{"hostname"},
		},
		{
			name: "sysctl not namespaced",
			edit: func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"vm.swappiness": "10"} },
			want: []string{"vm.swappiness"},
		},
		{
			name: "args[0] not in rootfs",
			edit: func(s *specs.Spec) { s.Process.Args = []string{"/bin/nope"} },
			want: []string{"/bin/nope", "process.args"},
		},
		{
			name: "createRuntime hook fails",
			edit: func(s *specs.Spec) {
				s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "exit 1"}}}}
			},
			want: []string{"createRuntime"},
		},
	}
	for _, tc := range tests {
		t.Run(sanitize(tc.name), func(t *testing.T) {
			r := newRT(t)
			b := bundle(t, tc.edit, "true")
			cgPath := readSpec(t, b).Linux.CgroupsPath
			if tc.raw != "" {
				if err := os.WriteFile(filepath.Join(b, "config.json"), []byte(tc.raw), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			id := tc.id
			if id == "" && !strings.HasPrefix(tc.name, "invalid id") {
				id = "bad"
			}
			before := snapshotHost(t)
			res := r.run("create", "--bundle", b, id)
			if res.code == 0 {
				t.Fatalf("create succeeded: %s", res)
			}
			t.Logf("stderr: %s", strings.TrimSpace(res.stderr))
			if !containsAny(res.stderr, tc.want) {
				t.Errorf("stderr names none of %q: %s", tc.want, res)
			}
			r.assertNoLeftovers(before, cgPath)
		})
	}
}

// TestCreateUnknownSeccompSyscall: runc and crun skip syscall names that
// libseccomp does not know (so that profiles naming newer syscalls keep
// working on older systems); what must not happen is a half-made container.
func TestCreateUnknownSeccompSyscall(t *testing.T) {
	r := newRT(t)
	b := bundle(t, func(s *specs.Spec) {
		s.Linux.Seccomp = &specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow,
			Syscalls:      []specs.LinuxSyscall{{Names: []string{"no_such_syscall_xyz"}, Action: specs.ActErrno}},
		}
	}, "true")
	cgPath := readSpec(t, b).Linux.CgroupsPath
	before := snapshotHost(t)
	res := r.run("create", "--bundle", b, "sc")
	if res.code == 0 {
		// Accepted, as runc does: the container must work.
		t.Log("unknown syscall name accepted (as runc and crun do)")
		r.must("start", "sc")
		r.waitStatus("sc", "stopped")
		r.must("delete", "sc")
		r.assertNoLeftovers(before, cgPath)
		return
	}
	t.Logf("rejected: %s", strings.TrimSpace(res.stderr))
	if !strings.Contains(res.stderr, "no_such_syscall_xyz") {
		t.Errorf("rejected without naming the syscall: %s", res)
	}
	r.assertNoLeftovers(before, cgPath)
}

// A duplicate id fails and leaves the existing container untouched.
func TestCreateDuplicateID(t *testing.T) {
	r := newRT(t)
	b := bundle(t, nil, "sleep", "1000")
	r.must("create", "--bundle", b, "dup")
	st := r.state("dup")
	b2 := bundle(t, nil, "sleep", "1000")
	cg2 := readSpec(t, b2).Linux.CgroupsPath
	before := snapshotHost(t)
	res := r.run("create", "--bundle", b2, "dup")
	if res.code == 0 || !strings.Contains(res.stderr, "dup") {
		t.Fatalf("duplicate create: %s", res)
	}
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup/memory", cg2)); err == nil {
		t.Errorf("cgroup of the failed duplicate left: %s", cg2)
	}
	if got := r.state("dup"); got.Status != "created" || got.Pid != st.Pid {
		t.Errorf("existing container disturbed: %+v, was %+v", got, st)
	}
	if pids := newInits(before.inits, cg2); len(pids) != 0 {
		t.Errorf("berth-oci init processes left by the failed create: %v", pids)
	}
	r.must("delete", "-f", "dup")
}

func TestKillBadSignal(t *testing.T) {
	r := newRT(t)
	b := bundle(t, nil, "sleep", "1000")
	r.must("run", "-d", "--bundle", b, "ks")
	for _, sig := range []string{"SIGFOO", "NOTASIG", "99999", "9x"} {
		res := r.run("kill", "ks", sig)
		if res.code == 0 {
			t.Errorf("kill %q succeeded", sig)
		} else if !strings.Contains(res.stderr, sig) {
			t.Errorf("kill %q: error does not name the signal: %s", sig, res)
		}
	}
	if st := r.state("ks"); st.Status != "running" {
		t.Fatalf("container is %s after bad kills", st.Status)
	}
	if res := r.run("kill", "nosuch", "KILL"); res.code == 0 || !strings.Contains(res.stderr, "nosuch") {
		t.Errorf("kill of an unknown container: %s", res)
	}
	r.must("kill", "ks", "9")
	r.waitStatus("ks", "stopped")
}
