package specgen

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func i64(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func u64(p *uint64) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestMemory(t *testing.T) {
	const mb = 1 << 20
	for _, tc := range []struct {
		name               string
		mem, swap, res     int64
		limit, total, soft any
	}{
		{name: "none", limit: nil, total: nil, soft: nil},
		{name: "memory alone: swap twice the memory", mem: 512 * mb, limit: int64(512 * mb), total: int64(1024 * mb), soft: nil},
		{name: "swap unlimited", mem: 512 * mb, swap: -1, limit: int64(512 * mb), total: int64(-1), soft: nil},
		{name: "swap equal to memory: no swap", mem: 512 * mb, swap: 512 * mb, limit: int64(512 * mb), total: int64(512 * mb), soft: nil},
		{name: "swap larger", mem: 512 * mb, swap: 2048 * mb, limit: int64(512 * mb), total: int64(2048 * mb), soft: nil},
		{name: "reservation", mem: 512 * mb, res: 256 * mb, limit: int64(512 * mb), total: int64(1024 * mb), soft: int64(256 * mb)},
		{name: "reservation alone", res: 256 * mb, limit: nil, total: nil, soft: int64(256 * mb)},
		{name: "unlimited swap without memory is ignored", swap: -1, limit: nil, total: nil, soft: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := generate(t, busybox, Options{Memory: tc.mem, MemorySwap: tc.swap, MemoryReservation: tc.res})
			m := s.Linux.Resources.Memory
			if m == nil {
				m = &specs.LinuxMemory{}
			}
			if i64(m.Limit) != tc.limit || i64(m.Swap) != tc.total || i64(m.Reservation) != tc.soft {
				t.Errorf("memory = limit %v swap %v reservation %v, want %v %v %v", i64(m.Limit), i64(m.Swap), i64(m.Reservation), tc.limit, tc.total, tc.soft)
			}
		})
	}
}

func TestMemoryErrors(t *testing.T) {
	const mb = 1 << 20
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{Memory: -1}, "negative"},
		{Options{Memory: 4 * mb}, "6MB"},
		{Options{MemorySwap: 1024 * mb}, "memory limit"},
		{Options{Memory: 512 * mb, MemorySwap: 256 * mb}, "larger than the memory limit"},
		{Options{Memory: 512 * mb, MemorySwap: -2}, "swap"},
		{Options{MemoryReservation: -5}, "negative"},
		{Options{MemoryReservation: mb}, "6MB"},
		{Options{Memory: 256 * mb, MemoryReservation: 512 * mb}, "reservation"},
	} {
		err := wantInvalid(t, busybox, tc.o)
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %q, want %q", tc.o, err, tc.want)
		}
	}
}

func TestCPU(t *testing.T) {
	old := numCPU
	numCPU = func() int { return 4 }
	t.Cleanup(func() { numCPU = old })
	for _, tc := range []struct {
		name                  string
		o                     Options
		quota, period, shares any
		cpus, mems            string
	}{
		{name: "none"},
		{name: "--cpus 1.5", o: Options{NanoCPUs: 1_500_000_000}, quota: int64(150000), period: uint64(100000)},
		{name: "--cpus 0.01", o: Options{NanoCPUs: 10_000_000}, quota: int64(1000), period: uint64(100000)},
		{name: "--cpus 4", o: Options{NanoCPUs: 4_000_000_000}, quota: int64(400000), period: uint64(100000)},
		{name: "quota and period", o: Options{CPUQuota: 50000, CPUPeriod: 200000}, quota: int64(50000), period: uint64(200000)},
		{name: "unlimited quota", o: Options{CPUQuota: -1}, quota: int64(-1)},
		{name: "shares", o: Options{CPUShares: 512}, shares: uint64(512)},
		{name: "shares clamped low", o: Options{CPUShares: 1}, shares: uint64(2)},
		{name: "shares clamped high", o: Options{CPUShares: 1 << 20}, shares: uint64(262144)},
		{name: "cpusets", o: Options{CpusetCpus: "0-2,3", CpusetMems: "0"}, cpus: "0-2,3", mems: "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := generate(t, busybox, tc.o)
			c := s.Linux.Resources.CPU
			if c == nil {
				c = &specs.LinuxCPU{}
			}
			if i64(c.Quota) != tc.quota || u64(c.Period) != tc.period || u64(c.Shares) != tc.shares || c.Cpus != tc.cpus || c.Mems != tc.mems {
				t.Errorf("cpu = quota %v period %v shares %v cpus %q mems %q, want %v %v %v %q %q",
					i64(c.Quota), u64(c.Period), u64(c.Shares), c.Cpus, c.Mems, tc.quota, tc.period, tc.shares, tc.cpus, tc.mems)
			}
		})
	}
}

func TestCPUErrors(t *testing.T) {
	old := numCPU
	numCPU = func() int { return 2 }
	t.Cleanup(func() { numCPU = old })
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{NanoCPUs: 3_000_000_000}, "only 2 CPUs"},
		{Options{NanoCPUs: 1_000_000}, "0.01"},
		{Options{NanoCPUs: -1}, "range of CPUs"},
		{Options{NanoCPUs: 1e9, CPUQuota: 10000}, "Nano CPUs and CPU Quota"},
		{Options{NanoCPUs: 1e9, CPUPeriod: 10000}, "Nano CPUs and CPU Period"},
		{Options{CPUPeriod: 999}, "period"},
		{Options{CPUPeriod: 1_000_001}, "period"},
		{Options{CPUQuota: 999}, "quota"},
		{Options{CPUQuota: -2}, "quota"},
		{Options{CPUShares: -1}, "shares"},
		{Options{CpusetCpus: "0-"}, "cpuset cpus"},
		{Options{CpusetCpus: "3-1"}, "backwards"},
		{Options{CpusetCpus: "a"}, "cpuset cpus"},
		{Options{CpusetCpus: "0,,1"}, "cpuset cpus"},
		{Options{CpusetCpus: "99999999"}, "cpuset cpus"},
		{Options{CpusetMems: "0-1-2"}, "cpuset mems"},
	} {
		err := wantInvalid(t, busybox, tc.o)
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %q, want %q", tc.o, err, tc.want)
		}
	}
}

func TestPidsAndBlkio(t *testing.T) {
	s := generate(t, busybox, Options{PidsLimit: 100, BlkioWeight: 300})
	r := s.Linux.Resources
	if r.Pids == nil || i64(r.Pids.Limit) != int64(100) {
		t.Errorf("pids = %+v", r.Pids)
	}
	if r.BlockIO == nil || r.BlockIO.Weight == nil || *r.BlockIO.Weight != 300 {
		t.Errorf("blkio = %+v", r.BlockIO)
	}
	for _, unlimited := range []int64{0, -1} {
		if s := generate(t, busybox, Options{PidsLimit: unlimited}); s.Linux.Resources.Pids != nil {
			t.Errorf("pids limit %d: %+v, want none", unlimited, s.Linux.Resources.Pids)
		}
	}
	for _, w := range []uint16{1, 9, 1001} {
		wantInvalid(t, busybox, Options{BlkioWeight: w})
	}
}

func TestDeviceRules(t *testing.T) {
	s := generate(t, busybox, Options{})
	rules := s.Linux.Resources.Devices
	if len(rules) == 0 || rules[0].Allow || rules[0].Access != "rwm" || rules[0].Type != "" {
		t.Fatalf("first rule %+v, want deny all", rules)
	}
	type key struct {
		typ          string
		major, minor any
		access       string
	}
	var got []key
	for _, r := range rules[1:] {
		if !r.Allow {
			t.Errorf("deny rule %+v after the first", r)
		}
		got = append(got, key{r.Type, i64(r.Major), i64(r.Minor), r.Access})
	}
	for _, want := range []key{
		{"c", nil, nil, "m"}, {"b", nil, nil, "m"},
		{"c", int64(1), int64(3), "rwm"}, {"c", int64(1), int64(5), "rwm"}, {"c", int64(1), int64(7), "rwm"},
		{"c", int64(1), int64(8), "rwm"}, {"c", int64(1), int64(9), "rwm"}, {"c", int64(5), int64(0), "rwm"},
		{"c", int64(5), int64(1), "rwm"}, {"c", int64(5), int64(2), "rwm"}, {"c", int64(136), nil, "rwm"},
	} {
		if !slices.Contains(got, want) {
			t.Errorf("no rule %+v", want)
		}
	}
	if slices.Contains(got, key{"c", int64(10), int64(200), "rwm"}) {
		t.Error("tun is allowed by default")
	}
	if len(s.Linux.Devices) != 0 {
		t.Errorf("devices = %+v, want none by default", s.Linux.Devices)
	}
}

func TestUserDevices(t *testing.T) {
	s := generate(t, busybox, Options{Devices: []Device{
		{PathOnHost: "/dev/null", PathInContainer: "/dev/mynull", CgroupPermissions: "rw"},
		{PathOnHost: "/dev/zero"},
	}})
	if len(s.Linux.Devices) != 2 {
		t.Fatalf("devices = %+v", s.Linux.Devices)
	}
	d := s.Linux.Devices[0]
	if d.Path != "/dev/mynull" || d.Type != "c" || d.Major != 1 || d.Minor != 3 || d.FileMode == nil {
		t.Errorf("device = %+v", d)
	}
	if z := s.Linux.Devices[1]; z.Path != "/dev/zero" || z.Minor != 5 {
		t.Errorf("device = %+v", z)
	}
	rules := s.Linux.Resources.Devices
	last := rules[len(rules)-2]
	if !last.Allow || last.Type != "c" || i64(last.Major) != int64(1) || i64(last.Minor) != int64(3) || last.Access != "rw" {
		t.Errorf("rule for the device = %+v", last)
	}
	if r := rules[len(rules)-1]; r.Access != "rwm" {
		t.Errorf("default permissions = %q, want rwm", r.Access)
	}
	for name, d := range map[string]Device{
		"missing":        {PathOnHost: "/dev/does-not-exist-here"},
		"not a device":   {PathOnHost: "/etc/hostname"},
		"relative":       {PathOnHost: "dev/null"},
		"bad permission": {PathOnHost: "/dev/null", CgroupPermissions: "rwx"},
		"twice the same": {PathOnHost: "/dev/null", CgroupPermissions: "rr"},
		"relative dest":  {PathOnHost: "/dev/null", PathInContainer: "null"},
	} {
		t.Run(name, func(t *testing.T) { wantInvalid(t, busybox, Options{Devices: []Device{d}}) })
	}
}

func TestPrivilegedDevices(t *testing.T) {
	s := generate(t, busybox, Options{Privileged: true, Devices: []Device{{PathOnHost: "/dev/zero", PathInContainer: "/dev/null"}}})
	rules := s.Linux.Resources.Devices
	if len(rules) != 1 || !rules[0].Allow || rules[0].Access != "rwm" || rules[0].Type != "" {
		t.Errorf("privileged device rules = %+v, want allow all", rules)
	}
	var paths []string
	for _, d := range s.Linux.Devices {
		paths = append(paths, d.Path)
		if d.Path == "/dev/null" && d.Minor != 5 {
			t.Errorf("the user's mapping did not replace /dev/null: %+v", d)
		}
		if strings.HasPrefix(d.Path, "/dev/pts/") || d.Path == "/dev/console" {
			t.Errorf("privileged container gets %s", d.Path)
		}
	}
	if !slices.Contains(paths, "/dev/null") || !slices.Contains(paths, "/dev/zero") {
		t.Errorf("host devices = %q", paths)
	}
	n := 0
	for _, p := range paths {
		if p == "/dev/null" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("/dev/null listed %d times", n)
	}
}

func TestUserDeviceLinksAndDirectories(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "null")
	if err := os.Symlink("/dev/null", link); err != nil {
		t.Fatal(err)
	}
	// A link given by the user is followed: the container sees the node
	// at the path the user named.
	s := generate(t, busybox, Options{Devices: []Device{{PathOnHost: link}}})
	if len(s.Linux.Devices) != 1 || s.Linux.Devices[0].Path != link || s.Linux.Devices[0].Minor != 3 {
		t.Errorf("devices = %+v", s.Linux.Devices)
	}
	// Links inside a directory are not.
	s = generate(t, busybox, Options{Devices: []Device{{PathOnHost: dir, PathInContainer: "/dev/mine"}}})
	if len(s.Linux.Devices) != 0 {
		t.Errorf("devices = %+v", s.Linux.Devices)
	}
	// A directory of nodes maps each one below the container path.
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skip("no /dev/net/tun here")
	}
	s = generate(t, busybox, Options{Devices: []Device{{PathOnHost: "/dev/net", PathInContainer: "/dev/vnet", CgroupPermissions: "r"}}})
	if len(s.Linux.Devices) != 1 || s.Linux.Devices[0].Path != "/dev/vnet/tun" || s.Linux.Devices[0].Major != 10 {
		t.Errorf("devices = %+v", s.Linux.Devices)
	}
	rules := s.Linux.Resources.Devices
	if r := rules[len(rules)-1]; i64(r.Major) != int64(10) || i64(r.Minor) != int64(200) || r.Access != "r" {
		t.Errorf("rule = %+v", r)
	}
}
