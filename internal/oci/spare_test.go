//go:build !berthinit

package oci

import (
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestSpareFits(t *testing.T) {
	docker := []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.MountNamespace},
		{Type: specs.IPCNamespace}, {Type: specs.UTSNamespace}, {Type: specs.NetworkNamespace, Path: "/run/netns/x"}}
	for _, c := range []struct {
		name     string
		ns       []specs.LinuxNamespace
		preserve int
		fits     bool
		unshare  uintptr
		joins    int
	}{
		{"docker run", docker, 0, true, unix.CLONE_NEWNS | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS, 1},
		{"new net", []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}}, 0, true, unix.CLONE_NEWNET, 0},
		{"cgroup ns (unshared by the init anyway)", append(docker, specs.LinuxNamespace{Type: specs.CgroupNamespace}), 0, true, unix.CLONE_NEWNS | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS, 1},
		{"joined ipc and uts (a pod)", []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace, Path: "/p/ipc"}, {Type: specs.UTSNamespace, Path: "/p/uts"}}, 0, true, 0, 2},
		{"host pid", docker[1:], 0, false, 0, 0},
		{"joined pid", append([]specs.LinuxNamespace{{Type: specs.PIDNamespace, Path: "/p/pid"}}, docker[1:]...), 0, false, 0, 0},
		{"new user", append(docker, specs.LinuxNamespace{Type: specs.UserNamespace}), 0, false, 0, 0},
		{"joined user", append(docker, specs.LinuxNamespace{Type: specs.UserNamespace, Path: "/p/user"}), 0, false, 0, 0},
		{"joined mount", []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.MountNamespace, Path: "/p/mnt"}}, 0, false, 0, 0},
		{"time", append(docker, specs.LinuxNamespace{Type: specs.TimeNamespace}), 0, false, 0, 0},
		{"joined cgroup", append(docker, specs.LinuxNamespace{Type: specs.CgroupNamespace, Path: "/p/cg"}), 0, false, 0, 0},
		{"preserved fds", docker, 2, false, 0, 0},
	} {
		p, err := planNamespaces(c.ns)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := p.spareFits(c.preserve); got != c.fits {
			t.Errorf("%s: spareFits = %v, want %v", c.name, got, c.fits)
			continue
		}
		if !c.fits {
			continue
		}
		e := p.enterFor()
		if e.Unshare != c.unshare || len(e.Joins) != c.joins {
			t.Errorf("%s: enter %+v, want unshare %#x and %d joins", c.name, e, c.unshare, c.joins)
		}
	}
}
