package specgen

import (
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func destinations(s *specs.Spec) []string {
	var out []string
	for _, m := range s.Mounts {
		out = append(out, m.Destination)
	}
	return out
}

func TestDefaultMounts(t *testing.T) {
	s := generate(t, busybox, Options{})
	want := []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=67108864"}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
	}
	if len(s.Mounts) != len(want) {
		t.Fatalf("mounts = %q, want %d", destinations(s), len(want))
	}
	for i := range want {
		got := s.Mounts[i]
		if got.Destination != want[i].Destination || got.Type != want[i].Type || got.Source != want[i].Source || !slices.Equal(got.Options, want[i].Options) {
			t.Errorf("mount %d = %+v\nwant %+v", i, got, want[i])
		}
	}
}

func TestShmSize(t *testing.T) {
	s := generate(t, busybox, Options{ShmSize: 1 << 30})
	m, _ := findMount(s, "/dev/shm")
	if !slices.Contains(m.Options, "size=1073741824") {
		t.Errorf("shm options = %q", m.Options)
	}
	wantInvalid(t, busybox, Options{ShmSize: -1})
}

func TestNetworkFileMounts(t *testing.T) {
	o := Options{HostsPath: "/run/c/hosts", HostnamePath: "/run/c/hostname", ResolvConfPath: "/run/c/resolv.conf"}
	s := generate(t, busybox, o)
	for dst, src := range map[string]string{"/etc/hosts": o.HostsPath, "/etc/hostname": o.HostnamePath, "/etc/resolv.conf": o.ResolvConfPath} {
		m, ok := findMount(s, dst)
		if !ok || m.Source != src || m.Type != "bind" || !slices.Contains(m.Options, "rbind") || slices.Contains(m.Options, "ro") {
			t.Errorf("%s: %+v", dst, m)
		}
	}
	o.ReadOnly = true
	s = generate(t, busybox, o)
	if m, _ := findMount(s, "/etc/resolv.conf"); !slices.Contains(m.Options, "ro") {
		t.Errorf("read-only rootfs: resolv.conf options %q lack ro", m.Options)
	}
	if !s.Root.Readonly {
		t.Error("root not read-only")
	}
	wantInvalid(t, busybox, Options{HostsPath: "hosts"})
}

func TestUserMounts(t *testing.T) {
	s := generate(t, busybox, Options{
		Mounts: []Mount{
			{Type: "bind", Source: "/srv/data", Destination: "/data/"},
			{Type: "bind", Source: "/srv/cfg", Destination: "/etc/app", ReadOnly: true},
			{Type: "volume", Source: "/var/lib/berth/volumes/v/_data", Destination: "/var/lib/db", Options: []string{"nocopy", "z"}},
			{Type: "bind", Source: "/srv/sock", Destination: "/run/sock", Propagation: "rslave", Options: []string{"bind", "nosuid"}},
			{Type: "tmpfs", Destination: "/scratch", Options: []string{"size=10m", "exec"}},
		},
	})
	for _, tc := range []struct {
		dst, src, typ string
		opts          []string
	}{
		{"/data", "/srv/data", "bind", []string{"rbind", "rprivate"}},
		{"/etc/app", "/srv/cfg", "bind", []string{"rbind", "ro", "rprivate"}},
		{"/var/lib/db", "/var/lib/berth/volumes/v/_data", "bind", []string{"rbind", "rprivate"}},
		{"/run/sock", "/srv/sock", "bind", []string{"bind", "nosuid", "rslave"}},
		{"/scratch", "tmpfs", "tmpfs", []string{"exec", "nosuid", "nodev", "rprivate", "size=10m"}},
	} {
		m, ok := findMount(s, tc.dst)
		if !ok {
			t.Errorf("no mount at %s", tc.dst)
			continue
		}
		if m.Source != tc.src || m.Type != tc.typ || !slices.Equal(m.Options, tc.opts) {
			t.Errorf("%s = %+v, want %s %s %q", tc.dst, m, tc.typ, tc.src, tc.opts)
		}
	}
	if s.Linux.RootfsPropagation != "rslave" {
		t.Errorf("rootfsPropagation = %q, want rslave for a slave bind", s.Linux.RootfsPropagation)
	}
	s = generate(t, busybox, Options{Mounts: []Mount{
		{Type: "bind", Source: "/a", Destination: "/a", Propagation: "rslave"},
		{Type: "bind", Source: "/b", Destination: "/b", Options: []string{"rshared"}},
	}})
	if s.Linux.RootfsPropagation != "rshared" {
		t.Errorf("rootfsPropagation = %q, want rshared", s.Linux.RootfsPropagation)
	}
	if s := generate(t, busybox, Options{}); s.Linux.RootfsPropagation != "" {
		t.Errorf("default rootfsPropagation = %q", s.Linux.RootfsPropagation)
	}
}

func TestMountOverrideAndOrder(t *testing.T) {
	s := generate(t, busybox, Options{
		HostsPath: "/run/c/hosts",
		Mounts: []Mount{
			{Type: "bind", Source: "/host/deep", Destination: "/a/b/c"},
			{Type: "bind", Source: "/host/a", Destination: "/a"},
			{Type: "bind", Source: "/host/shm", Destination: "/dev/shm"},
			{Type: "bind", Source: "/host/hosts", Destination: "/etc/hosts"},
			{Type: "bind", Source: "/host/ab", Destination: "/a/b"},
		},
		Tmpfs: map[string]string{"/run": "", "/a/b/c/d": "size=1m"},
	})
	count := map[string]int{}
	for _, m := range s.Mounts {
		count[m.Destination]++
	}
	for dst, n := range count {
		if n != 1 {
			t.Errorf("%d mounts at %s", n, dst)
		}
	}
	if m, _ := findMount(s, "/dev/shm"); m.Source != "/host/shm" {
		t.Errorf("/dev/shm = %+v, want the user's bind to replace the default", m)
	}
	if m, _ := findMount(s, "/etc/hosts"); m.Source != "/host/hosts" {
		t.Errorf("/etc/hosts = %+v, want the user's bind", m)
	}
	// Every mount comes after the mounts of its parents.
	pos := map[string]int{}
	for i, m := range s.Mounts {
		pos[m.Destination] = i
	}
	for _, m := range s.Mounts {
		for parent, i := range pos {
			if parent != m.Destination && strings.HasPrefix(m.Destination, parent+"/") && i > pos[m.Destination] {
				t.Errorf("%s mounted before its parent %s: %q", m.Destination, parent, destinations(s))
			}
		}
	}
}

func TestUserDevReplacesDefaultDevMounts(t *testing.T) {
	s := generate(t, busybox, Options{Mounts: []Mount{{Type: "bind", Source: "/dev", Destination: "/dev"}}})
	for _, m := range s.Mounts {
		if strings.HasPrefix(m.Destination, "/dev") && m.Source != "/dev" {
			t.Errorf("default %s kept under the user's /dev", m.Destination)
		}
	}
}

func TestMountErrors(t *testing.T) {
	for name, o := range map[string]Options{
		"relative destination":   {Mounts: []Mount{{Type: "bind", Source: "/a", Destination: "data"}}},
		"empty destination":      {Mounts: []Mount{{Type: "bind", Source: "/a"}}},
		"root destination":       {Mounts: []Mount{{Type: "bind", Source: "/a", Destination: "/"}}},
		"relative source":        {Mounts: []Mount{{Type: "bind", Source: "a", Destination: "/a"}}},
		"unknown type":           {Mounts: []Mount{{Type: "nfs", Source: "/a", Destination: "/a"}}},
		"unknown option":         {Mounts: []Mount{{Type: "bind", Source: "/a", Destination: "/a", Options: []string{"bogus"}}}},
		"bad propagation":        {Mounts: []Mount{{Type: "bind", Source: "/a", Destination: "/a", Propagation: "sideways"}}},
		"duplicate":              {Mounts: []Mount{{Type: "bind", Source: "/a", Destination: "/a"}, {Type: "bind", Source: "/b", Destination: "/a/"}}},
		"duplicate with tmpfs":   {Mounts: []Mount{{Type: "bind", Source: "/a", Destination: "/a"}}, Tmpfs: map[string]string{"/a": ""}},
		"relative tmpfs":         {Tmpfs: map[string]string{"run": ""}},
		"bad tmpfs option":       {Tmpfs: map[string]string{"/run": "rw,bogus"}},
		"bad tmpfs size":         {Tmpfs: map[string]string{"/run": "size=lots"}},
		"bad tmpfs mode":         {Tmpfs: map[string]string{"/run": "mode=999"}},
		"bad tmpfs uid":          {Tmpfs: map[string]string{"/run": "uid=-1"}},
		"unknown tmpfs key":      {Tmpfs: map[string]string{"/run": "color=blue"}},
		"bad mount tmpfs":        {Mounts: []Mount{{Type: "tmpfs", Destination: "/t", Options: []string{"size="}}}},
		"nul in the destination": {Mounts: []Mount{{Type: "bind", Source: "/a", Destination: "/a\x00b"}}},
	} {
		t.Run(name, func(t *testing.T) { wantInvalid(t, busybox, o) })
	}
}

func TestTmpfsOptions(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", []string{"noexec", "nosuid", "nodev", "rprivate"}},
		{"rw,size=64m,mode=1777", []string{"noexec", "nosuid", "nodev", "rprivate", "rw", "size=64m", "mode=1777"}},
		{"exec", []string{"exec", "nosuid", "nodev", "rprivate"}},
		{"size=1g,size=2g", []string{"noexec", "nosuid", "nodev", "rprivate", "size=2g"}},
		{"ro,rw", []string{"noexec", "nosuid", "nodev", "rprivate", "rw"}},
		{"rshared,uid=1000,gid=1000,nr_inodes=1k,size=50%", []string{"noexec", "nosuid", "nodev", "rshared", "uid=1000", "gid=1000", "nr_inodes=1k", "size=50%"}},
	} {
		s := generate(t, busybox, Options{Tmpfs: map[string]string{"/t": tc.in}})
		m, _ := findMount(s, "/t")
		if m.Type != "tmpfs" || !slices.Equal(m.Options, tc.want) {
			t.Errorf("%q: options %q, want %q", tc.in, m.Options, tc.want)
		}
	}
}

func TestPrivilegedAndWritableCgroupMounts(t *testing.T) {
	s := generate(t, busybox, Options{Privileged: true})
	for _, dst := range []string{"/sys", "/sys/fs/cgroup"} {
		m, _ := findMount(s, dst)
		if slices.Contains(m.Options, "ro") || !slices.Contains(m.Options, "rw") {
			t.Errorf("privileged %s options %q, want rw", dst, m.Options)
		}
	}
	s = generate(t, busybox, Options{SecurityOpt: []string{"writable-cgroups=true"}})
	if m, _ := findMount(s, "/sys/fs/cgroup"); !slices.Contains(m.Options, "rw") {
		t.Errorf("writable-cgroups: options %q", m.Options)
	}
	if m, _ := findMount(s, "/sys"); !slices.Contains(m.Options, "ro") {
		t.Errorf("writable-cgroups made /sys writable: %q", m.Options)
	}
}

func TestIPCModeMounts(t *testing.T) {
	s := generate(t, busybox, Options{IPCMode: "host"})
	if m, _ := findMount(s, "/dev/shm"); m.Type != "bind" || m.Source != "/dev/shm" {
		t.Errorf("ipc host /dev/shm = %+v", m)
	}
	// An mqueue filesystem shows the queues of the (host's) IPC namespace.
	if m, _ := findMount(s, "/dev/mqueue"); m.Type != "mqueue" {
		t.Errorf("ipc host /dev/mqueue = %+v", m)
	}
	s = generate(t, busybox, Options{IPCMode: "none"})
	if _, ok := findMount(s, "/dev/shm"); ok {
		t.Error("ipc none still mounts /dev/shm")
	}
	if _, ok := hasNS(s, specs.IPCNamespace); !ok {
		t.Error("ipc none has no private IPC namespace")
	}
}
