package cgroups

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Mount tables for fake hosts.
const (
	// This machine: v1 controllers plus a cgroup2 mount holding hugetlb.
	hybridMountinfo = `22 28 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`
	hybridSelfCgroup = `9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/process_api/abc
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
`
	// A classic v1 host with the combined cpu,cpuacct mount and no cgroup2.
	v1CombinedMountinfo = `25 24 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:4 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:5 - cgroup cgroup rw,xattr,name=systemd
29 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,cpu,cpuacct
30 25 0:27 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,memory
31 25 0:28 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,net_cls,net_prio
32 25 0:29 / /sys/fs/cgroup/hugetlb rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,hugetlb
33 25 0:30 / /sys/fs/cgroup/devices rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,devices
`
	v1CombinedSelfCgroup = `7:devices:/user.slice
6:hugetlb:/
5:net_cls,net_prio:/
4:memory:/user.slice/user-1000.slice
3:cpu,cpuacct:/user.slice
1:name=systemd:/user.slice/user-1000.slice/session-2.scope
`
	v2Mountinfo = `24 30 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
25 24 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:8 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`
	v2SelfCgroup = "0::/user.slice/user-1000.slice/session-3.scope\n"
)

// Files the kernel would put in a new directory of each hierarchy.
var fakeFiles = map[string][]string{
	"cpu":          {"cpu.shares", "cpu.cfs_period_us", "cpu.cfs_quota_us", "cpu.cfs_burst_us", "cpu.rt_period_us", "cpu.rt_runtime_us", "cpu.idle", "cpu.stat"},
	"cpuacct":      {"cpuacct.usage", "cpuacct.usage_percpu", "cpuacct.stat"},
	"cpuset":       {"cpuset.cpus", "cpuset.mems"},
	"memory":       {"memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.soft_limit_in_bytes", "memory.swappiness", "memory.oom_control", "memory.use_hierarchy", "memory.kmem.tcp.limit_in_bytes", "memory.usage_in_bytes", "memory.stat"},
	"devices":      {"devices.allow", "devices.deny", "devices.list"},
	"freezer":      {"freezer.state"},
	"blkio":        {"blkio.weight", "blkio.weight_device", "blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device", "blkio.throttle.read_iops_device", "blkio.throttle.write_iops_device"},
	"pids":         {"pids.max", "pids.current"},
	"hugetlb":      {"hugetlb.2MB.limit_in_bytes", "hugetlb.1GB.limit_in_bytes"},
	"net_cls":      {"net_cls.classid"},
	"net_prio":     {"net_prio.ifpriomap"},
	"name=systemd": {},
	"": {"cgroup.controllers", "cgroup.subtree_control", "cgroup.freeze", "cgroup.events", "cpu.weight", "cpu.max", "cpu.max.burst", "cpu.idle", "cpu.stat",
		"cpuset.cpus", "cpuset.mems", "memory.max", "memory.low", "memory.swap.max", "memory.current", "memory.stat", "pids.max", "pids.current",
		"io.weight", "io.max", "io.stat", "io.latency", "memory.high", "hugetlb.2MB.max", "hugetlb.2MB.rsvd.max", "hugetlb.1GB.max", "rdma.max"},
}

// fakeHost builds a cgroupfs look-alike under t.TempDir() from a mount table.
type fakeHost struct {
	t    *testing.T
	root string
	src  *source
	hs   []hierarchy
}

func newFakeHost(t *testing.T, mountinfo, selfCgroup string) *fakeHost {
	t.Helper()
	f := &fakeHost{t: t, root: t.TempDir()}
	f.src = &source{
		root:       f.root,
		mountinfo:  func() ([]byte, error) { return []byte(mountinfo), nil },
		selfCgroup: func() ([]byte, error) { return []byte(selfCgroup), nil },
		afterMkdir: f.populate,
		rmdir:      fakeRmdir,
		attachDevices: func(dir string, rules []specs.LinuxDeviceCgroup) error {
			return os.WriteFile(dir+"/fake.bpf", encode(deviceProgram(rules)), 0o644)
		},
	}
	f.hs = parseMountinfo([]byte(mountinfo), f.root)
	for _, h := range f.hs {
		if err := os.MkdirAll(h.mount, 0o755); err != nil {
			t.Fatal(err)
		}
		f.populate(h.mount)
		if h.v2 {
			f.write(h.mount+"/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma")
		}
		if contains(h.ctrls, "cpuset") {
			f.write(h.mount+"/cpuset.cpus", "0-1")
			f.write(h.mount+"/cpuset.mems", "0")
		}
	}
	return f
}

// populate creates the control files of a new cgroup directory.
func (f *fakeHost) populate(dir string) {
	for _, h := range f.hs {
		if dir != h.mount && !strings.HasPrefix(dir, h.mount+"/") {
			continue
		}
		files := []string{"cgroup.procs"}
		if h.v2 {
			files = append(files, fakeFiles[""]...)
		}
		for _, c := range h.ctrls {
			files = append(files, fakeFiles[c]...)
		}
		for _, name := range files {
			f.write(dir+"/"+name, "")
		}
		if h.v2 && dir != h.mount {
			// cgroup.controllers of a child is what its parent enabled.
			b, _ := os.ReadFile(filepath.Dir(dir) + "/cgroup.subtree_control")
			f.write(dir+"/cgroup.controllers", fakeEnabled(string(b)))
		}
		return
	}
}

// kernelSubtreeControl rewrites every cgroup.subtree_control the way the
// kernel shows it ("+a +b" written reads back as "a b").
func (f *fakeHost) kernelSubtreeControl() {
	filepath.Walk(f.root, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Name() == "cgroup.subtree_control" {
			f.write(p, fakeEnabled(f.read(p)))
		}
		return nil
	})
}

// fakeEnabled interprets a (last) "+a +b" write as the enabled set.
func fakeEnabled(s string) string {
	return strings.TrimSpace(strings.ReplaceAll(s, "+", ""))
}

func (f *fakeHost) write(p, v string) {
	f.t.Helper()
	if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fakeHost) read(p string) string {
	f.t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		f.t.Fatal(err)
	}
	return string(b)
}

// fakeRmdir behaves like rmdir on cgroupfs: control files go with the
// directory, child directories make it busy.
func fakeRmdir(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.IsDir() {
			return unix.EBUSY
		}
	}
	for _, e := range ents {
		os.Remove(dir + "/" + e.Name())
	}
	return unix.Rmdir(dir)
}

type write struct{ path, val string }

var traceMu sync.Mutex

// recordWrites captures every cgroup file write (relative to root) until
// the test ends.
func recordWrites(t *testing.T, root string) *[]write {
	traceMu.Lock()
	var ws []write
	traceWrite = func(p, v string) { ws = append(ws, write{strings.TrimPrefix(p, root), v}) }
	t.Cleanup(func() { traceWrite = nil; traceMu.Unlock() })
	return &ws
}

func i64(v int64) *int64   { return &v }
func u64(v uint64) *uint64 { return &v }
func u16(v uint16) *uint16 { return &v }
func u32(v uint32) *uint32 { return &v }
func boolp(v bool) *bool   { return &v }
