package cgroups

import (
	"errors"
	"os"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/errdefs"
)

func fullResources() *specs.LinuxResources {
	return &specs.LinuxResources{
		Devices: []specs.LinuxDeviceCgroup{
			{Allow: false, Access: "rwm"},
			{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"},
			{Allow: true, Type: "c", Major: i64(136), Access: "rw"},
			{Allow: false, Type: "b", Major: i64(8), Minor: i64(0), Access: "m"},
		},
		Memory: &specs.LinuxMemory{
			Limit: i64(64 << 20), Reservation: i64(32 << 20), Swap: i64(128 << 20),
			Kernel: i64(1 << 20), KernelTCP: i64(2 << 20), Swappiness: u64(10),
			DisableOOMKiller: boolp(true), UseHierarchy: boolp(true),
		},
		CPU: &specs.LinuxCPU{
			Shares: u64(512), Quota: i64(50000), Period: u64(100000), Burst: u64(1000),
			RealtimeRuntime: i64(950), RealtimePeriod: u64(1000), Cpus: "0-1", Mems: "0", Idle: i64(0),
		},
		Pids: &specs.LinuxPids{Limit: i64(50)},
		BlockIO: &specs.LinuxBlockIO{
			Weight: u16(500), LeafWeight: u16(300),
			WeightDevice:            []specs.LinuxWeightDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Weight: u16(200), LeafWeight: u16(100)}},
			ThrottleReadBpsDevice:   []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 1 << 20}},
			ThrottleWriteBpsDevice:  []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 2 << 20}},
			ThrottleReadIOPSDevice:  []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 16}, Rate: 100}},
			ThrottleWriteIOPSDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 0}},
		},
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}},
		Network:        &specs.LinuxNetwork{ClassID: u32(0x100001), Priorities: []specs.LinuxInterfacePriority{{Name: "eth0", Priority: 5}}},
		Rdma:           map[string]specs.LinuxRdma{"mlx5_1": {HcaHandles: u32(3)}, "mlx4_0": {HcaHandles: u32(2), HcaObjects: u32(9)}},
	}
}

func diffWrites(t *testing.T, got []write, want []write) {
	t.Helper()
	n := max(len(got), len(want))
	bad := false
	for i := 0; i < n; i++ {
		var g, w write
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			t.Errorf("write %d: got %s = %q, want %s = %q", i, g.path, g.val, w.path, w.val)
			bad = true
		}
	}
	if bad {
		var b strings.Builder
		for _, g := range got {
			b.WriteString("\t{\"" + g.path + "\", \"" + g.val + "\"},\n")
		}
		t.Logf("all writes:\n%s", b.String())
	}
}

func TestCreateV1Hybrid(t *testing.T) {
	f := newFakeHost(t, hybridMountinfo, hybridSelfCgroup)
	m, err := openWith(f.src, "/berth/c1", false)
	if err != nil {
		t.Fatal(err)
	}
	ws := recordWrites(t, f.root)
	if err := m.Create(fullResources()); err != nil {
		t.Fatal(err)
	}
	const (
		cg   = "/sys/fs/cgroup/"
		leaf = "/berth/c1/"
	)
	want := []write{
		// cpuset: both new levels get the root's cpus/mems before use.
		{cg + "cpuset/berth/cpuset.cpus", "0-1"},
		{cg + "cpuset/berth/cpuset.mems", "0"},
		{cg + "cpuset" + leaf + "cpuset.cpus", "0-1"},
		{cg + "cpuset" + leaf + "cpuset.mems", "0"},
		// hugetlb lives on the cgroup2 mount: enable it down the path.
		{cg + "unified/cgroup.subtree_control", "+hugetlb"},
		{cg + "unified/berth/cgroup.subtree_control", "+hugetlb"},
		// devices, in order
		{cg + "devices" + leaf + "devices.deny", "a"},
		{cg + "devices" + leaf + "devices.allow", "c 1:3 rwm"},
		{cg + "devices" + leaf + "devices.allow", "c 136:* rw"},
		{cg + "devices" + leaf + "devices.deny", "b 8:0 m"},
		// memory (kernel ignored, kernelTCP best effort)
		{cg + "memory" + leaf + "memory.limit_in_bytes", "67108864"},
		{cg + "memory" + leaf + "memory.memsw.limit_in_bytes", "134217728"},
		{cg + "memory" + leaf + "memory.soft_limit_in_bytes", "33554432"},
		{cg + "memory" + leaf + "memory.kmem.tcp.limit_in_bytes", "2097152"},
		{cg + "memory" + leaf + "memory.swappiness", "10"},
		{cg + "memory" + leaf + "memory.oom_control", "1"},
		{cg + "memory" + leaf + "memory.use_hierarchy", "1"},
		// cpu
		{cg + "cpu" + leaf + "cpu.shares", "512"},
		{cg + "cpu" + leaf + "cpu.cfs_period_us", "100000"},
		{cg + "cpu" + leaf + "cpu.cfs_quota_us", "50000"},
		{cg + "cpu" + leaf + "cpu.cfs_burst_us", "1000"},
		{cg + "cpu" + leaf + "cpu.rt_period_us", "1000"},
		{cg + "cpu" + leaf + "cpu.rt_runtime_us", "950"},
		{cg + "cpu" + leaf + "cpu.idle", "0"},
		{cg + "cpuset" + leaf + "cpuset.cpus", "0-1"},
		{cg + "cpuset" + leaf + "cpuset.mems", "0"},
		{cg + "pids" + leaf + "pids.max", "50"},
		// blkio: no BFQ files here, so the CFQ names; leaf weights skipped
		// when missing (the fake has no leaf_weight files).
		{cg + "blkio" + leaf + "blkio.bfq.weight", "500"},
		{cg + "blkio" + leaf + "blkio.weight", "500"},
		{cg + "blkio" + leaf + "blkio.leaf_weight", "300"},
		{cg + "blkio" + leaf + "blkio.bfq.weight_device", "8:0 200"},
		{cg + "blkio" + leaf + "blkio.weight_device", "8:0 200"},
		{cg + "blkio" + leaf + "blkio.leaf_weight_device", "8:0 100"},
		{cg + "blkio" + leaf + "blkio.throttle.read_bps_device", "8:0 1048576"},
		{cg + "blkio" + leaf + "blkio.throttle.write_bps_device", "8:0 2097152"},
		{cg + "blkio" + leaf + "blkio.throttle.read_iops_device", "8:16 100"},
		{cg + "blkio" + leaf + "blkio.throttle.write_iops_device", "8:0 0"},
		// hugetlb: v2 file names on the unified mount
		{cg + "unified" + leaf + "hugetlb.2MB.max", "4194304"},
		{cg + "unified" + leaf + "hugetlb.2MB.rsvd.max", "4194304"},
		// no net_cls/net_prio/rdma hierarchies: ignored
	}
	diffWrites(t, *ws, want)

	for _, d := range m.dirs {
		if _, err := os.Stat(d.dir); err != nil {
			t.Errorf("not created: %v", err)
		}
	}
	if len(m.created) != 2*len(m.dirs) {
		t.Errorf("created %d dirs, want %d: %v", len(m.created), 2*len(m.dirs), m.created)
	}

	*ws = nil
	if err := m.Apply(4242); err != nil {
		t.Fatal(err)
	}
	if len(*ws) != 10 {
		t.Errorf("Apply wrote %d files, want 10 (9 v1 + unified)", len(*ws))
	}
	for _, w := range *ws {
		if !strings.HasSuffix(w.path, "/berth/c1/cgroup.procs") || w.val != "4242" {
			t.Errorf("Apply wrote %v", w)
		}
	}

	// Freezer round trip on the fake (the file just holds the value).
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if st, _ := m.FreezerState(); st != Frozen {
		t.Errorf("state %q", st)
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	if st, _ := m.FreezerState(); st != Thawed {
		t.Errorf("state %q", st)
	}

	// A sub-cgroup made inside the container goes too; /berth (created by
	// this Manager) goes after the leaf.
	sub := m.Path("memory") + "/inner"
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	f.write(sub+"/cgroup.procs", "")
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	for _, h := range f.hs {
		if _, err := os.Stat(h.mount + "/berth"); !os.IsNotExist(err) {
			t.Errorf("%s/berth still there (%v)", h.mount, err)
		}
	}
	if err := m.Destroy(); err != nil {
		t.Errorf("second Destroy: %v", err)
	}
}

func TestCreateV1Combined(t *testing.T) {
	f := newFakeHost(t, v1CombinedMountinfo, v1CombinedSelfCgroup)
	// An existing parent the Manager does not own.
	m, err := openWith(f.src, "/existing/c2", false)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range m.dirs {
		if err := os.Mkdir(parentDir(d.dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ws := recordWrites(t, f.root)
	r := &specs.LinuxResources{
		CPU:            &specs.LinuxCPU{Shares: u64(2)},
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "1GB", Limit: 1 << 30}},
		Network:        &specs.LinuxNetwork{ClassID: u32(7), Priorities: []specs.LinuxInterfacePriority{{Name: "lo", Priority: 1}, {Name: "eth0", Priority: 2}}},
		Memory:         &specs.LinuxMemory{Limit: i64(-1), Swap: i64(-1), Kernel: i64(1 << 20)},
	}
	if err := m.Create(r); err != nil {
		t.Fatal(err)
	}
	cg := "/sys/fs/cgroup/"
	want := []write{
		{cg + "memory/existing/c2/memory.limit_in_bytes", "-1"},
		{cg + "memory/existing/c2/memory.memsw.limit_in_bytes", "-1"},
		{cg + "cpu,cpuacct/existing/c2/cpu.shares", "2"},
		{cg + "hugetlb/existing/c2/hugetlb.1GB.limit_in_bytes", "1073741824"},
		{cg + "hugetlb/existing/c2/hugetlb.1GB.rsvd.limit_in_bytes", "1073741824"}, // tried; missing is fine
		{cg + "net_cls,net_prio/existing/c2/net_cls.classid", "7"},
		{cg + "net_cls,net_prio/existing/c2/net_prio.ifpriomap", "lo 1"},
		{cg + "net_cls,net_prio/existing/c2/net_prio.ifpriomap", "eth0 2"},
	}
	diffWrites(t, *ws, want)
	if m.Path("cpu") != m.Path("cpuacct") {
		t.Error("cpu and cpuacct differ on a combined mount")
	}
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	for _, d := range m.dirs {
		if _, err := os.Stat(d.dir); !os.IsNotExist(err) {
			t.Errorf("%s still there", d.dir)
		}
		if _, err := os.Stat(parentDir(d.dir)); err != nil {
			t.Errorf("parent %s not ours but removed", parentDir(d.dir))
		}
	}
}

func TestSetV1OnlyWritesWhatIsSet(t *testing.T) {
	f := newFakeHost(t, hybridMountinfo, hybridSelfCgroup)
	m, _ := openWith(f.src, "/c", false)
	if err := m.Create(nil); err != nil {
		t.Fatal(err)
	}
	ws := recordWrites(t, f.root)
	if err := m.Set(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(0)}, Memory: &specs.LinuxMemory{Kernel: i64(5)}, CPU: &specs.LinuxCPU{}}); err != nil {
		t.Fatal(err)
	}
	diffWrites(t, *ws, []write{{"/sys/fs/cgroup/pids/c/pids.max", "max"}})

	// unified settings are refused on v1 before anything is written.
	*ws = nil
	err := m.Set(&specs.LinuxResources{Unified: map[string]string{"memory.high": "1G"}})
	if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "linux.resources.unified") {
		t.Errorf("unified on v1: %v", err)
	}
	if len(*ws) != 0 {
		t.Errorf("wrote %v", *ws)
	}
	// Swap raised above the current limit: kernel order handled (fake
	// accepts both orders, so just check the files).
	*ws = nil
	if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Swap: i64(1 << 30)}}); err != nil {
		t.Fatal(err)
	}
	diffWrites(t, *ws, []write{{"/sys/fs/cgroup/memory/c/memory.memsw.limit_in_bytes", "1073741824"}})
	// A missing controller file is an error naming the file.
	os.Remove(m.Path("pids") + "/pids.max")
	err = m.Set(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(3)}})
	if err == nil || !strings.Contains(err.Error(), "pids.max") || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
}

func TestCreateRollsBack(t *testing.T) {
	f := newFakeHost(t, hybridMountinfo, hybridSelfCgroup)
	m, _ := openWith(f.src, "/rb/c", false)
	// blkio weight with neither weight file present fails after mkdir.
	f.src.afterMkdir = func(dir string) {
		f.populate(dir)
		os.Remove(dir + "/blkio.weight")
	}
	err := m.Create(&specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: u16(100)}})
	if err == nil {
		t.Fatal("Create succeeded")
	}
	for _, h := range f.hs {
		if _, err := os.Stat(h.mount + "/rb"); !os.IsNotExist(err) {
			t.Errorf("%s/rb left behind", h.mount)
		}
	}
	// Validation fails before anything is created.
	err = m.Create(&specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "x-"}})
	if !errdefs.IsInvalidArgument(err) {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(f.root + "/sys/fs/cgroup/memory/rb"); !os.IsNotExist(err) {
		t.Error("created despite invalid resources")
	}
}

func TestV1DeviceRule(t *testing.T) {
	tests := []struct {
		rule specs.LinuxDeviceCgroup
		want string
	}{
		{specs.LinuxDeviceCgroup{}, "a"},
		{specs.LinuxDeviceCgroup{Type: "a", Access: "rwm"}, "a"},
		{specs.LinuxDeviceCgroup{Type: "c", Major: i64(1), Minor: i64(3)}, "c 1:3 rwm"},
		{specs.LinuxDeviceCgroup{Type: "b", Major: i64(-1), Minor: i64(-1), Access: "m"}, "b *:* m"},
		{specs.LinuxDeviceCgroup{Type: "c", Minor: i64(5), Access: "r"}, "c *:5 r"},
		{specs.LinuxDeviceCgroup{Type: "a", Major: i64(4), Access: "w"}, "a 4:* w"},
	}
	for _, tt := range tests {
		if got := v1DeviceRule(tt.rule); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.rule, got, tt.want)
		}
	}
}

func TestCreateFillsEmptyExistingCpuset(t *testing.T) {
	f := newFakeHost(t, hybridMountinfo, hybridSelfCgroup)
	m, _ := openWith(f.src, "/pre/c", false)
	d := m.Path("cpuset")
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	f.populate(parentDir(d)) // an existing, empty parent ...
	f.populate(d)            // ... and leaf
	if err := m.Create(nil); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{parentDir(d), d} {
		if got := f.read(p + "/cpuset.cpus"); got != "0-1" {
			t.Errorf("%s/cpuset.cpus = %q", p, got)
		}
		if got := f.read(p + "/cpuset.mems"); got != "0" {
			t.Errorf("%s/cpuset.mems = %q", p, got)
		}
	}
}
