//go:build !berthinit

package oci

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/linux/rootfs"
)

func richConfig() *initConfig {
	mode := os.FileMode(0o640)
	uid, gid, umask := uint32(7), uint32(8), uint32(0o027)
	timeout, oom := 5, -100
	spec := &specs.Spec{
		Version:  "1.3.0",
		Root:     &specs.Root{Path: "/r", Readonly: true},
		Hostname: "h", Domainname: "d",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/data", Type: "bind", Source: "/src", Options: []string{"rbind", "ro"},
				UIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 10}},
				GIDMappings: []specs.LinuxIDMapping{{ContainerID: 1, HostID: 2000, Size: 5}}},
		},
		Hooks: &specs.Hooks{
			CreateContainer: []specs.Hook{{Path: "/bin/a", Args: []string{"a", "-x"}, Env: []string{"A=1"}, Timeout: &timeout}},
			StartContainer:  []specs.Hook{{Path: "/bin/b"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace, Path: "/proc/1/ns/net"}},
			Devices: []specs.LinuxDevice{
				{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, FileMode: &mode, UID: &uid, GID: &gid},
				{Path: "/dev/x", Type: "b", Major: -1, Minor: 3},
			},
			Sysctl:            map[string]string{"net.ipv4.ip_forward": "1", "kernel.shmmax": "1024"},
			RootfsPropagation: "rslave",
			MaskedPaths:       []string{"/proc/kcore"},
			ReadonlyPaths:     []string{"/proc/sys"},
			Personality:       &specs.LinuxPersonality{Domain: specs.PerLinux32, Flags: []specs.LinuxPersonalityFlag{"X"}},
			MemoryPolicy:      &specs.LinuxMemoryPolicy{Mode: specs.MpolBind, Nodes: "0-1", Flags: []specs.MemoryPolicyFlagType{specs.MpolFStaticNodes}},
		},
	}
	proc := &specs.Process{
		Terminal:    true,
		ConsoleSize: &specs.Box{Height: 40, Width: 100},
		User:        specs.User{UID: 1, GID: 2, Umask: &umask, AdditionalGids: []uint32{3, 4}, Username: "u"},
		Args:        []string{"sh", "-c", "echo ü"}, Env: []string{"PATH=/bin"}, Cwd: "/tmp",
		Capabilities: &specs.LinuxCapabilities{Bounding: []string{"CAP_KILL"}, Effective: []string{"CAP_KILL"},
			Permitted: []string{"CAP_KILL", "CAP_CHOWN"}, Ambient: []string{"CAP_CHOWN"}},
		Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 2048, Soft: 1024}},
		NoNewPrivileges: true, ApparmorProfile: "p", OOMScoreAdj: &oom, SelinuxLabel: "l",
		IOPriority: &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 3},
		Scheduler: &specs.Scheduler{Policy: specs.SchedBatch, Nice: -5, Priority: 1,
			Flags: []specs.LinuxSchedulerFlag{specs.SchedFlagResetOnFork}, Runtime: 1, Deadline: 2, Period: 3},
		ExecCPUAffinity: &specs.CPUAffinity{Initial: "0", Final: "0-1"},
	}
	return &initConfig{
		Spec: spec, Process: proc, Rootfs: "/r", Bundle: "/b", NoPivot: true,
		Cgroups:  []rootfs.CgroupDir{{Name: "memory", Host: "/sys/fs/cgroup/memory/x"}},
		CgroupV2: true, NewCgroupNS: true, NewUserNS: true, NewNetNS: true,
		Files: []string{fileFifoDir, fileConsole}, PreserveFDs: 2, SyncHooks: true,
		Seccomp: []byte{1, 2, 3}, NoMountNS: true, State: json.RawMessage(`{"id":"x"}`), Nice: -3,
		Enter: &nsEnter{Unshare: unix.CLONE_NEWNS | unix.CLONE_NEWUTS,
			Joins: []nsJoin{{"/run/netns/a", unix.CLONE_NEWNET}, {"/proc/9/ns/ipc", unix.CLONE_NEWIPC}}},
	}
}

func TestWireRoundTrip(t *testing.T) {
	for name, c := range map[string]*initConfig{
		"rich":    richConfig(),
		"minimal": {Spec: &specs.Spec{}, Process: &specs.Process{Args: []string{"true"}}},
		"exec":    {Exec: true, Process: &specs.Process{Args: []string{"ls"}, Cwd: "/"}},
	} {
		var buf bytes.Buffer
		w := &wire{r: &buf, w: &buf}
		if err := w.sendConfig(c); err != nil {
			t.Fatal(err)
		}
		if err := w.send(syncMsg{Type: msgError, Error: "boom", HookFailed: true}); err != nil {
			t.Fatal(err)
		}
		got, err := w.recvConfig()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, c) {
			a, _ := json.Marshal(c)
			b, _ := json.Marshal(got)
			t.Fatalf("%s: round trip differs:\n sent %s\n got  %s", name, a, b)
		}
		m, err := w.recv()
		if err != nil || m != (syncMsg{Type: msgError, Error: "boom", HookFailed: true}) {
			t.Fatalf("%s: message %+v, %v", name, m, err)
		}
	}
}

// The encoding must carry every field the init reads: childSpec is what
// the parent sends, so a field childSpec keeps must survive the trip.
func TestWireCoversChildSpec(t *testing.T) {
	c := richConfig()
	full := *c.Spec
	c.Spec = childSpec(&full)
	var buf bytes.Buffer
	w := &wire{r: &buf, w: &buf}
	if err := w.sendConfig(c); err != nil {
		t.Fatal(err)
	}
	got, err := w.recvConfig()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Spec, c.Spec) {
		t.Fatal("childSpec does not survive the wire")
	}
}

// FuzzWireDecode: a malformed frame is an error, never a panic or a huge
// allocation.
func FuzzWireDecode(f *testing.F) {
	var e enc
	e.config(richConfig())
	f.Add(e.b)
	f.Add([]byte{})
	f.Add([]byte{0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		d := dec{b: b}
		_ = d.config()
		_ = d.done()
	})
}
