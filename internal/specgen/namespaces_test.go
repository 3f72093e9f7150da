package specgen

import (
	"maps"
	"os"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func nsSummary(s *specs.Spec) string {
	var parts []string
	for _, n := range s.Linux.Namespaces {
		p := string(n.Type)
		if n.Path != "" {
			p += "=" + n.Path
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, " ")
}

func TestNamespaces(t *testing.T) {
	for _, tc := range []struct {
		name    string
		o       Options
		cgroup2 bool
		want    string
	}{
		{"default, cgroup v2", Options{}, true, "pid network ipc uts mount cgroup"},
		{"default, cgroup v1", Options{}, false, "pid network ipc uts mount"},
		{"none", Options{NetworkMode: "none"}, true, "pid network ipc uts mount cgroup"},
		{"bridge with a prepared netns", Options{NetworkMode: "bridge", NetNSPath: "/run/berth/netns/x"}, false, "pid network=/run/berth/netns/x ipc uts mount"},
		{"host network", Options{NetworkMode: "host"}, false, "pid ipc uts mount"},
		{"container network", Options{NetworkMode: "container:abc", NetNSPath: "/proc/42/ns/net"}, false, "pid network=/proc/42/ns/net ipc uts mount"},
		{"host pid ipc uts", Options{PIDMode: "host", IPCMode: "host", UTSMode: "host"}, false, "network mount"},
		{"joined pid and ipc", Options{PIDMode: "container:/proc/7/ns/pid", IPCMode: "container:/proc/7/ns/ipc"}, false, "pid=/proc/7/ns/pid network ipc=/proc/7/ns/ipc uts mount"},
		{"shareable ipc", Options{IPCMode: "shareable"}, false, "pid network ipc uts mount"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			withCgroup2(t, tc.cgroup2)
			s := generate(t, busybox, tc.o)
			if got := nsSummary(s); got != tc.want {
				t.Errorf("namespaces = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNamespaceErrors(t *testing.T) {
	for name, o := range map[string]Options{
		"container network without a path": {NetworkMode: "container:abc"},
		"host network with a path":         {NetworkMode: "host", NetNSPath: "/run/x"},
		"relative netns":                   {NetNSPath: "run/x"},
		"odd network name":                 {NetworkMode: "bad name!"},
		"unknown pid mode":                 {PIDMode: "shared"},
		"container pid by id":              {PIDMode: "container:abc"},
		"unknown ipc mode":                 {IPCMode: "weird"},
		"hostname with host uts":           {UTSMode: "host", Hostname: "x"},
		"long hostname":                    {Hostname: strings.Repeat("a", 65)},
		"hostname with a space":            {Hostname: "a b"},
		"bad id":                           {ID: "../escape"},
	} {
		t.Run(name, func(t *testing.T) { wantInvalid(t, busybox, o) })
	}
	if _, err := Generate(busybox, Options{}); err == nil {
		t.Error("an empty ID was accepted")
	}
}

func TestHostname(t *testing.T) {
	s := generate(t, busybox, Options{Hostname: "web", Domainname: "example.org"})
	if s.Hostname != "web" || s.Domainname != "example.org" {
		t.Errorf("hostname %q domainname %q", s.Hostname, s.Domainname)
	}
	host, _ := os.Hostname()
	s = generate(t, busybox, Options{NetworkMode: "host"})
	if s.Hostname != host {
		t.Errorf("host network: hostname %q, want the host's %q", s.Hostname, host)
	}
	s = generate(t, busybox, Options{UTSMode: "host"})
	if s.Hostname != "" {
		t.Errorf("host UTS: hostname %q, want none", s.Hostname)
	}
	found := false
	for _, e := range s.Process.Env {
		found = found || e == "HOSTNAME="+host
	}
	if !found {
		t.Errorf("host UTS: env %q lacks HOSTNAME=%s", s.Process.Env, host)
	}
}

func TestSysctls(t *testing.T) {
	withKernel(t, kver{5, 10})
	defaults := map[string]string{"net.ipv4.ping_group_range": "0 2147483647", "net.ipv4.ip_unprivileged_port_start": "0"}
	for _, tc := range []struct {
		name string
		o    Options
		want map[string]string
	}{
		{"defaults", Options{}, defaults},
		{"user overrides a default", Options{Sysctls: map[string]string{"net.ipv4.ip_unprivileged_port_start": "1024"}},
			map[string]string{"net.ipv4.ping_group_range": "0 2147483647", "net.ipv4.ip_unprivileged_port_start": "1024"}},
		{"namespaced ones", Options{Sysctls: map[string]string{"kernel.shmmax": "1000", "fs.mqueue.msg_max": "20", "net.core.somaxconn": "1024", "kernel.domainname": "x"}},
			map[string]string{"kernel.shmmax": "1000", "fs.mqueue.msg_max": "20", "net.core.somaxconn": "1024", "kernel.domainname": "x",
				"net.ipv4.ping_group_range": "0 2147483647", "net.ipv4.ip_unprivileged_port_start": "0"}},
		{"host network: no defaults", Options{NetworkMode: "host"}, nil},
		{"joined network: no defaults", Options{NetworkMode: "container:x", NetNSPath: "/proc/1/ns/net"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := generate(t, busybox, tc.o)
			if !maps.Equal(s.Linux.Sysctl, tc.want) {
				t.Errorf("sysctl = %v, want %v", s.Linux.Sysctl, tc.want)
			}
		})
	}
	withKernel(t, kver{4, 9})
	s := generate(t, busybox, Options{})
	if _, ok := s.Linux.Sysctl["net.ipv4.ip_unprivileged_port_start"]; ok {
		t.Error("ip_unprivileged_port_start set on a kernel older than 4.11")
	}
}

func TestSysctlErrors(t *testing.T) {
	for name, o := range map[string]Options{
		"not namespaced":        {Sysctls: map[string]string{"kernel.panic": "1"}},
		"vm":                    {Sysctls: map[string]string{"vm.swappiness": "1"}},
		"net with host network": {NetworkMode: "host", Sysctls: map[string]string{"net.core.somaxconn": "1"}},
		"ipc with host ipc":     {IPCMode: "host", Sysctls: map[string]string{"kernel.msgmax": "1"}},
		"uts with host uts":     {UTSMode: "host", Sysctls: map[string]string{"kernel.hostname": "x"}},
		"bad name":              {Sysctls: map[string]string{"net..x": "1"}},
		"path traversal":        {Sysctls: map[string]string{"net/../../kernel/panic": "1"}},
		"empty":                 {Sysctls: map[string]string{"": "1"}},
	} {
		t.Run(name, func(t *testing.T) { wantInvalid(t, busybox, o) })
	}
}

func TestCgroupsPathAndRoot(t *testing.T) {
	for _, tc := range []struct{ parent, want string }{
		{"", "/berth/" + testID},
		{"/custom", "/custom/" + testID},
		{"custom/nested", "/custom/nested/" + testID},
		{"system.slice", "system.slice:berth:" + testID},
	} {
		s := generate(t, busybox, Options{CgroupParent: tc.parent})
		if s.Linux.CgroupsPath != tc.want {
			t.Errorf("parent %q: cgroupsPath %q, want %q", tc.parent, s.Linux.CgroupsPath, tc.want)
		}
	}
	s := generate(t, busybox, Options{Rootfs: "/var/lib/berth/containers/x/rootfs", ReadOnly: true})
	if s.Root.Path != "/var/lib/berth/containers/x/rootfs" || !s.Root.Readonly {
		t.Errorf("root = %+v", s.Root)
	}
	if s.Version != specs.Version {
		t.Errorf("version = %q", s.Version)
	}
}
