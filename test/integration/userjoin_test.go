package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// TestJoinUserNamespaceWithNewNamespaces: a container joins another's user
// (and pid) namespace by path and gets new mount, uts, ipc and network
// namespaces, which must belong to the joined user namespace (the init
// creates them after joining).
func TestJoinUserNamespaceWithNewNamespaces(t *testing.T) {
	r := newRT(t)
	const hostID = 200000
	userns := func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: hostID, Size: 65536}}
		s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: hostID, Size: 65536}}
	}
	a := bundle(t, userns, "sleep", "1000")
	chownTree(t, filepath.Join(a, "rootfs"), hostID, hostID)
	openUp(t, a)
	r.must("run", "-d", "--bundle", a, "owner")
	pid := r.state("owner").Pid
	b := bundle(t, func(s *specs.Spec) {
		var ns []specs.LinuxNamespace
		for _, n := range s.Linux.Namespaces {
			if n.Type != specs.PIDNamespace {
				ns = append(ns, n)
			}
		}
		s.Linux.Namespaces = append(ns,
			specs.LinuxNamespace{Type: specs.UserNamespace, Path: fmt.Sprintf("/proc/%d/ns/user", pid)},
			specs.LinuxNamespace{Type: specs.PIDNamespace, Path: fmt.Sprintf("/proc/%d/ns/pid", pid)})
	}, "sh", "-c", "readlink /proc/self/ns/user; cat /proc/self/uid_map; id -u; hostname")
	chownTree(t, filepath.Join(b, "rootfs"), hostID, hostID)
	openUp(t, b)
	res := r.run("run", "--bundle", b, "joiner")
	if res.code != 0 {
		t.Fatalf("joiner: %s", res)
	}
	want := readlink(t, fmt.Sprintf("/proc/%d/ns/user", pid))
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	if len(lines) < 4 || lines[0] != want {
		t.Fatalf("joiner's user namespace %q, want %s (%s)", lines, want, res)
	}
	if f := strings.Fields(lines[1]); len(f) != 3 || f[1] != fmt.Sprint(hostID) {
		t.Fatalf("uid_map %q", lines[1])
	}
	if lines[2] != "0" || lines[3] != "berth" {
		t.Fatalf("id/hostname: %q", lines[2:])
	}
	// A new pid namespace made inside a joined user namespace: the init is
	// its pid 1, the namespace belongs to the joined user namespace (so
	// /proc can be mounted), and the exit code comes through.
	c := bundle(t, func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces,
			specs.LinuxNamespace{Type: specs.UserNamespace, Path: fmt.Sprintf("/proc/%d/ns/user", pid)})
	}, "sh", "-c", "echo $$; readlink /proc/self/ns/user; cat /proc/1/comm; exit 7")
	chownTree(t, filepath.Join(c, "rootfs"), hostID, hostID)
	openUp(t, c)
	res = r.run("run", "--bundle", c, "newpid")
	if res.code != 7 {
		t.Fatalf("new pid ns in a joined user ns: %s", res)
	}
	lines = strings.Split(strings.TrimSpace(res.stdout), "\n")
	if len(lines) != 3 || lines[0] != "1" || lines[1] != want || lines[2] != "sh" {
		t.Fatalf("new pid ns in a joined user ns: pid, userns, pid 1 %q (want 1, %s, sh)", lines, want)
	}
	// Detached, its state names the init, not the process that forked it.
	d := bundle(t, func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces,
			specs.LinuxNamespace{Type: specs.UserNamespace, Path: fmt.Sprintf("/proc/%d/ns/user", pid)})
	}, "sleep", "1000")
	chownTree(t, filepath.Join(d, "rootfs"), hostID, hostID)
	openUp(t, d)
	r.must("run", "-d", "--bundle", d, "newpid-d")
	st := r.state("newpid-d")
	if st.Status != "running" || readlink(t, fmt.Sprintf("/proc/%d/ns/user", st.Pid)) != want {
		t.Fatalf("detached: %+v", st)
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", st.Pid)); err != nil || !strings.Contains(string(b), "NSpid:\t"+fmt.Sprint(st.Pid)+"\t1\n") {
		t.Fatalf("detached init is not pid 1 of its namespace: %s %v", b, err)
	}
	r.must("kill", "newpid-d", "KILL")
}

// openUp makes the bundle's directories searchable by the container's
// unprivileged host uid (t.TempDir makes them 0700).
func openUp(t *testing.T, dir string) {
	t.Helper()
	for d := dir; d != "/" && d != "/tmp"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}
