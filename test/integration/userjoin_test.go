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
	// A new pid namespace cannot be made inside a joined user namespace.
	c := bundle(t, func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces,
			specs.LinuxNamespace{Type: specs.UserNamespace, Path: fmt.Sprintf("/proc/%d/ns/user", pid)})
	}, "true")
	if res := r.run("run", "--bundle", c, "nopid"); res.code == 0 || !strings.Contains(res.stderr, "new pid or time namespace") {
		t.Fatalf("new pid ns in a joined user ns: %s", res)
	}
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
