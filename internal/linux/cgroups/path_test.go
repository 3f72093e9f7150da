package cgroups

import (
	"reflect"
	"testing"

	"github.com/berth-dev/berth/internal/errdefs"
)

func TestParseMountinfo(t *testing.T) {
	hs := parseMountinfo([]byte(hybridMountinfo), "/R")
	if len(hs) != 10 {
		t.Fatalf("got %d hierarchies, want 10: %+v", len(hs), hs)
	}
	last := hs[len(hs)-1]
	if !last.v2 || last.mount != "/R/sys/fs/cgroup/unified" || last.root != "/" {
		t.Errorf("cgroup2 = %+v", last)
	}
	if !reflect.DeepEqual(hs[8].ctrls, []string{"name=systemd"}) {
		t.Errorf("systemd controllers = %v", hs[8].ctrls)
	}

	hs = parseMountinfo([]byte(v1CombinedMountinfo), "")
	if !reflect.DeepEqual(hs[1].ctrls, []string{"cpu", "cpuacct"}) || hs[1].mount != "/sys/fs/cgroup/cpu,cpuacct" {
		t.Errorf("combined = %+v", hs[1])
	}

	// Escaped mount points; a second mount of a hierarchy does not replace
	// the one at /sys/fs/cgroup, but does replace one elsewhere.
	mi := `1 0 0:1 / /mnt/my\040cg rw - cgroup cgroup rw,pids
2 0 0:1 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
3 0 0:1 / /other rw - cgroup cgroup rw,pids
4 0 0:2 /sub /sys/fs/cgroup/unified rw - cgroup2 none rw
5 0 0:2 / /elsewhere rw - cgroup2 none rw
`
	hs = parseMountinfo([]byte(mi), "")
	want := []hierarchy{
		{mount: "/sys/fs/cgroup/pids", root: "/", ctrls: []string{"pids"}},
		{mount: "/sys/fs/cgroup/unified", root: "/sub", v2: true},
	}
	if !reflect.DeepEqual(hs, want) {
		t.Errorf("got %+v\nwant %+v", hs, want)
	}
	if got := unescapeOctal(`/a\040b\134c\011`); got != "/a b\\c\t" {
		t.Errorf("unescape = %q", got)
	}
}

func TestOpenResolvesPaths(t *testing.T) {
	type want struct {
		version int
		paths   map[string]string // controller → path below the fake root ("-" = none)
	}
	tests := []struct {
		name       string
		mountinfo  string
		selfCgroup string
		path       string
		systemd    bool
		want       want
	}{
		{"hybrid absolute", hybridMountinfo, hybridSelfCgroup, "/berth/c1", false, want{1, map[string]string{
			"memory": "/sys/fs/cgroup/memory/berth/c1", "cpu": "/sys/fs/cgroup/cpu/berth/c1",
			"systemd": "/sys/fs/cgroup/systemd/berth/c1", "name=systemd": "/sys/fs/cgroup/systemd/berth/c1",
			"": "/sys/fs/cgroup/unified/berth/c1", "hugetlb": "/sys/fs/cgroup/unified/berth/c1", "net_cls": "-",
		}}},
		{"hybrid relative", hybridMountinfo, hybridSelfCgroup, "c1", false, want{1, map[string]string{
			"memory": "/sys/fs/cgroup/memory/process_api/abc/c1", "pids": "/sys/fs/cgroup/pids/c1", "": "/sys/fs/cgroup/unified/c1",
		}}},
		{"hybrid unclean absolute", hybridMountinfo, hybridSelfCgroup, "/a//b/../c/", false, want{1, map[string]string{
			"freezer": "/sys/fs/cgroup/freezer/a/c",
		}}},
		{"v1 combined relative", v1CombinedMountinfo, v1CombinedSelfCgroup, "x/y", false, want{1, map[string]string{
			"cpu": "/sys/fs/cgroup/cpu,cpuacct/user.slice/x/y", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct/user.slice/x/y",
			"memory": "/sys/fs/cgroup/memory/user.slice/user-1000.slice/x/y", "": "-",
			"hugetlb": "/sys/fs/cgroup/hugetlb/x/y", "net_prio": "/sys/fs/cgroup/net_cls,net_prio/x/y",
		}}},
		{"v1 systemd form", v1CombinedMountinfo, v1CombinedSelfCgroup, "machine-vm.slice:berth:abc", true, want{1, map[string]string{
			"memory": "/sys/fs/cgroup/memory/machine.slice/machine-vm.slice/berth-abc.scope",
		}}},
		{"v2 absolute", v2Mountinfo, v2SelfCgroup, "/berth/c1", false, want{2, map[string]string{
			"": "/sys/fs/cgroup/berth/c1", "memory": "/sys/fs/cgroup/berth/c1", "anything": "/sys/fs/cgroup/berth/c1",
		}}},
		{"v2 relative", v2Mountinfo, v2SelfCgroup, "c1", false, want{2, map[string]string{
			"": "/sys/fs/cgroup/user.slice/user-1000.slice/session-3.scope/c1",
		}}},
		{"v2 systemd", v2Mountinfo, v2SelfCgroup, "user.slice:berth:c1", true, want{2, map[string]string{
			"": "/sys/fs/cgroup/user.slice/berth-c1.scope",
		}}},
		{"v2 systemd empty slice", v2Mountinfo, v2SelfCgroup, ":berth:c1", true, want{2, map[string]string{
			"": "/sys/fs/cgroup/system.slice/berth-c1.scope",
		}}},
		{"v2 systemd flag, plain path", v2Mountinfo, v2SelfCgroup, "/plain/p", true, want{2, map[string]string{
			"": "/sys/fs/cgroup/plain/p",
		}}},
		{"colons without systemd are a relative path", v2Mountinfo, "0::/\n", "a:b:c", false, want{2, map[string]string{
			"": "/sys/fs/cgroup/a:b:c",
		}}},
		{"mount root is a subtree", "1 0 0:5 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
			"4:memory:/docker/abc/sub\n", "c", false, want{1, map[string]string{
				"memory": "/sys/fs/cgroup/memory/sub/c",
			}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeHost(t, tt.mountinfo, tt.selfCgroup)
			m, err := openWith(f.src, tt.path, tt.systemd)
			if err != nil {
				t.Fatal(err)
			}
			if m.Version() != tt.want.version {
				t.Errorf("version = %d, want %d", m.Version(), tt.want.version)
			}
			for ctrl, p := range tt.want.paths {
				want := f.root + p
				if p == "-" {
					want = ""
				}
				if got := m.Path(ctrl); got != want {
					t.Errorf("Path(%q) = %q, want %q", ctrl, got, want)
				}
			}
		})
	}
}

func TestSystemdPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"system.slice:docker:abc", "/system.slice/docker-abc.scope"},
		{"a-b-c.slice:p:n", "/a.slice/a-b.slice/a-b-c.slice/p-n.scope"},
		{"-.slice:p:n", "/p-n.scope"},
		{":p:n", "/system.slice/p-n.scope"},
		{"user.slice::n", "/user.slice/n.scope"},
		{"kubepods.slice:p:kubepods-burstable.slice", "/kubepods.slice/kubepods-burstable.slice"},
		{"bad:p:n", ""},
		{"a--b.slice:p:n", ""},
		{"-a.slice:p:n", ""},
		{"a/b.slice:p:n", ""},
		{"system.slice:p:", ""},
		{"system.slice:p:a/b", ""},
	}
	for _, tt := range tests {
		got, err := systemdPath(tt.in)
		if tt.want == "" {
			if err == nil || !errdefs.IsInvalidArgument(err) {
				t.Errorf("%q: got %q, %v; want InvalidArgument", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: got %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestOpenRejects(t *testing.T) {
	f := newFakeHost(t, v2Mountinfo, v2SelfCgroup)
	for _, p := range []string{"", "/", "/..", "."} {
		if _, err := openWith(f.src, p, false); !errdefs.IsInvalidArgument(err) {
			t.Errorf("Open(%q) = %v, want InvalidArgument", p, err)
		}
	}
	empty := newFakeHost(t, "1 0 0:1 / / rw - ext4 /dev/vda rw\n", "")
	if _, err := openWith(empty.src, "/x", false); err == nil {
		t.Error("Open without cgroup mounts succeeded")
	}
	// Only a named v1 hierarchy next to cgroup2: that is a v2 host.
	named := newFakeHost(t, v2Mountinfo+"9 8 0:9 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n", v2SelfCgroup)
	m, err := openWith(named.src, "/x", false)
	if err != nil || m.Version() != 2 {
		t.Errorf("named+cgroup2: %v, version %d", err, m.Version())
	}
}

func TestFromPathsRoundTrip(t *testing.T) {
	for _, mi := range []string{hybridMountinfo, v1CombinedMountinfo, v2Mountinfo} {
		f := newFakeHost(t, mi, hybridSelfCgroup)
		m, err := openWith(f.src, "/berth/rt", false)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := fromPathsWith(f.src, m.Paths())
		if err != nil {
			t.Fatal(err)
		}
		if m2.Version() != m.Version() || !reflect.DeepEqual(m2.Paths(), m.Paths()) {
			t.Errorf("round trip: v%d %v\n  -> v%d %v", m.Version(), m.Paths(), m2.Version(), m2.Paths())
		}
		for _, c := range []string{"", "memory", "cpu", "cpuacct", "hugetlb"} {
			if m2.Path(c) != m.Path(c) {
				t.Errorf("Path(%q): %q vs %q", c, m2.Path(c), m.Path(c))
			}
		}
		for i := range m2.dirs {
			if m2.dirs[i].mount == "" {
				t.Errorf("no mount for %+v", m2.dirs[i])
			}
		}
	}
}

func TestOpenV2FastPath(t *testing.T) {
	f := newFakeHost(t, v2Mountinfo, v2SelfCgroup)
	f.src.unifiedAt = func() string { return f.root + "/sys/fs/cgroup" }
	f.src.mountinfo = func() ([]byte, error) { t.Fatal("mountinfo read for an absolute v2 path"); return nil, nil }
	m, err := openWith(f.src, "/a/b", false)
	if err != nil || m.Version() != 2 || m.Path("memory") != f.root+"/sys/fs/cgroup/a/b" {
		t.Fatalf("fast path: %v %+v", err, m)
	}
	if err := m.Create(nil); err != nil {
		t.Fatal(err)
	}
	m2, err := fromPathsWith(f.src, m.Paths())
	if err != nil || m2.Version() != 2 || m2.Path("") != m.Path("") {
		t.Fatalf("FromPaths fast path: %v", err)
	}
	if err := m2.Destroy(); err != nil {
		t.Fatal(err)
	}
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	// Relative paths still need the tables.
	f.src.mountinfo = func() ([]byte, error) { return []byte(v2Mountinfo), nil }
	m, err = openWith(f.src, "rel", false)
	if err != nil || m.Path("") != f.root+"/sys/fs/cgroup/user.slice/user-1000.slice/session-3.scope/rel" {
		t.Fatalf("relative: %v %q", err, m.Path(""))
	}
}
