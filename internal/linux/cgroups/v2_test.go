package cgroups

import (
	"os"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/errdefs"
)

func TestCreateV2(t *testing.T) {
	f := newFakeHost(t, v2Mountinfo, v2SelfCgroup)
	m, err := openWith(f.src, "/berth/c1", false)
	if err != nil {
		t.Fatal(err)
	}
	r := fullResources()
	r.CPU.RealtimePeriod, r.CPU.RealtimeRuntime = nil, nil
	r.Unified = map[string]string{"memory.high": "max", "io.latency": "8:0 target=10"}
	ws := recordWrites(t, f.root)
	if err := m.Create(r); err != nil {
		t.Fatal(err)
	}
	d := "/sys/fs/cgroup/berth/c1/"
	all := "+cpuset +cpu +io +memory +hugetlb +pids +rdma"
	want := []write{
		{"/sys/fs/cgroup/cgroup.subtree_control", all},
		{"/sys/fs/cgroup/berth/cgroup.subtree_control", all},
		{d + "memory.max", "67108864"},
		{d + "memory.low", "33554432"},
		{d + "memory.swap.max", "67108864"},
		{d + "cpu.weight", "20"},
		{d + "cpu.max", "50000 100000"},
		{d + "cpu.max.burst", "1000"},
		{d + "cpu.idle", "0"},
		{d + "cpuset.cpus", "0-1"},
		{d + "cpuset.mems", "0"},
		{d + "pids.max", "50"},
		{d + "io.weight", "default 4950"},
		{d + "io.weight", "8:0 1920"},
		{d + "io.max", "8:0 rbps=1048576 wbps=2097152 wiops=max"},
		{d + "io.max", "8:16 riops=100"},
		{d + "hugetlb.2MB.max", "4194304"},
		{d + "hugetlb.2MB.rsvd.max", "4194304"},
		{d + "rdma.max", "mlx4_0 hca_handle=2 hca_object=9"},
		{d + "rdma.max", "mlx5_1 hca_handle=3"},
		{d + "io.latency", "8:0 target=10"},
		{d + "memory.high", "max"},
	}
	diffWrites(t, *ws, want)
	if _, err := os.Stat(m.Path("") + "/fake.bpf"); err != nil {
		t.Errorf("device filter not attached: %v", err)
	}

	// The cgroup fd for CLONE_INTO_CGROUP.
	fd, err := m.DirFD()
	if err != nil {
		t.Fatal(err)
	}
	os.NewFile(uintptr(fd), "cg").Close()

	// Existing, fully enabled ancestors are only read.
	f.kernelSubtreeControl()
	m2, _ := openWith(f.src, "/berth/c2", false)
	*ws = nil
	if err := m2.Create(nil); err != nil {
		t.Fatal(err)
	}
	if len(*ws) != 0 {
		t.Errorf("second container wrote %v", *ws)
	}

	// Update: period alone keeps the current quota; swap alone uses the
	// current memory.max.
	f.write(m.Path("")+"/cpu.max", "30000 100000")
	f.write(m.Path("")+"/memory.max", "1000")
	*ws = nil
	if err := m.Set(&specs.LinuxResources{CPU: &specs.LinuxCPU{Period: u64(50000)}, Memory: &specs.LinuxMemory{Swap: i64(3000)}}); err != nil {
		t.Fatal(err)
	}
	diffWrites(t, *ws, []write{{d + "memory.swap.max", "2000"}, {d + "cpu.max", "30000 50000"}})

	// CheckBeforeUpdate refuses a limit below usage.
	f.write(m.Path("")+"/memory.current", "5000\n")
	err = m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(4096), CheckBeforeUpdate: boolp(true)}})
	if !errdefs.IsInvalidArgument(err) {
		t.Errorf("CheckBeforeUpdate: %v", err)
	}

	// Real-time limits do not exist on v2.
	err = m.Set(&specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: i64(10)}})
	if err == nil || !strings.Contains(err.Error(), "linux.resources.cpu.realtimeRuntime") {
		t.Errorf("rt on v2: %v", err)
	}

	// A missing controller file explains itself.
	os.Remove(m.Path("") + "/pids.max")
	err = m.Set(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(-1)}})
	if err == nil || !strings.Contains(err.Error(), "pids controller") {
		t.Errorf("missing pids.max: %v", err)
	}

	// Freezer state from cgroup.freeze + cgroup.events.
	f.write(m.Path("")+"/cgroup.events", "populated 1\nfrozen 1\n")
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if st, _ := m.FreezerState(); st != Frozen {
		t.Errorf("state %q", st)
	}
	f.write(m.Path("")+"/cgroup.events", "populated 1\nfrozen 0\n")
	if st, _ := m.FreezerState(); st != Freezing {
		t.Errorf("state %q", st)
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	if st, _ := m.FreezerState(); st != Thawed {
		t.Errorf("state %q", st)
	}

	// Pids are recursive.
	f.write(m.Path("")+"/cgroup.procs", "10\n11\n")
	os.Mkdir(m.Path("")+"/sub", 0o755)
	f.write(m.Path("")+"/sub/cgroup.procs", "12\n")
	pids, err := m.Pids()
	if err != nil || len(pids) != 3 || pids[2] != 12 {
		t.Errorf("Pids = %v, %v", pids, err)
	}

	// m made /berth, so it goes when m is destroyed last.
	for _, mm := range []*Manager{m2, m} {
		if err := mm.Destroy(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(f.root + "/sys/fs/cgroup/berth"); !os.IsNotExist(err) {
		t.Error("/berth left behind")
	}
}

func TestDirFDOnV1(t *testing.T) {
	f := newFakeHost(t, hybridMountinfo, hybridSelfCgroup)
	m, _ := openWith(f.src, "/x", false)
	if _, err := m.DirFD(); err == nil {
		t.Error("DirFD on v1 succeeded")
	}
}

func TestV2Conversions(t *testing.T) {
	for _, tt := range []struct{ shares, weight uint64 }{
		{2, 1}, {1, 1}, {1024, 39}, {512, 20}, {262144, 10000}, {1 << 40, 10000}, {100, 4},
	} {
		if got := sharesToWeight(tt.shares); got != tt.weight {
			t.Errorf("sharesToWeight(%d) = %d, want %d", tt.shares, got, tt.weight)
		}
	}
	for _, tt := range []struct {
		w    uint16
		want uint64
	}{{10, 1}, {1000, 10000}, {500, 4950}, {5, 1}, {100, 910}} {
		if got := blkioToIOWeight(tt.w); got != tt.want {
			t.Errorf("blkioToIOWeight(%d) = %d, want %d", tt.w, got, tt.want)
		}
	}
	noRead := func(string) (string, error) { t.Fatal("unexpected read"); return "", nil }
	tests := []struct {
		name string
		r    *specs.LinuxResources
		want []v2File
		err  string
	}{
		{"unlimited", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(-1), Swap: i64(-1)}, Pids: &specs.LinuxPids{Limit: i64(-1)}},
			[]v2File{{file: "memory.max", val: "max"}, {file: "memory.swap.max", val: "max"}, {file: "pids.max", val: "max"}}, ""},
		{"swap equal to limit is no swap", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(100), Swap: i64(100)}},
			[]v2File{{file: "memory.max", val: "100"}, {file: "memory.swap.max", val: "0"}}, ""},
		{"quota -1", &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(-1), Period: u64(10000)}},
			[]v2File{{file: "cpu.max", val: "max 10000"}}, ""},
		{"quota alone", &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(20000)}},
			[]v2File{{file: "cpu.max", val: "20000"}}, ""},
		{"ignored on v2", &specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: u64(1), DisableOOMKiller: boolp(true), Kernel: i64(1), KernelTCP: i64(1)},
			Network: &specs.LinuxNetwork{ClassID: u32(1)}}, nil, ""},
		{"zero pids is unlimited", &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(0)}}, []v2File{{file: "pids.max", val: "max"}}, ""},
		{"swap without any limit", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(-1), Swap: i64(100)}}, nil, "linux.resources.memory.swap"},
	}
	for _, tt := range tests {
		got, err := v2Files(tt.r, noRead)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: err %v, want %q", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if len(got) != len(tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
			continue
		}
		for i := range got {
			if got[i].file != tt.want[i].file || got[i].val != tt.want[i].val {
				t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
			}
		}
	}
}

func TestV2IOWeightFallsBackToBFQ(t *testing.T) {
	f := newFakeHost(t, v2Mountinfo, v2SelfCgroup)
	m, _ := openWith(f.src, "/bfq", false)
	if err := m.Create(nil); err != nil {
		t.Fatal(err)
	}
	os.Remove(m.Path("") + "/io.weight")
	f.write(m.Path("")+"/io.bfq.weight", "")
	if err := m.Set(&specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: u16(300)}}); err != nil {
		t.Fatal(err)
	}
	if got := f.read(m.Path("") + "/io.bfq.weight"); got != "default 300" {
		t.Errorf("io.bfq.weight = %q", got)
	}
}
