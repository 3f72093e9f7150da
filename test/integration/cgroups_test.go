package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// These tests read cgroup v1 files: this machine (see MACHINE.md) mounts v1
// controllers under /sys/fs/cgroup/<controller>.
func requireCgroupV1(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/sys/fs/cgroup/memory/memory.limit_in_bytes"); err != nil {
		t.Skip("needs cgroup v1 controllers under /sys/fs/cgroup/<controller>")
	}
}

var v1Controllers = []string{"memory", "pids", "cpu", "cpuset", "devices", "freezer", "blkio"}

// cgFile reads a cgroup file of the container's cgroup; "" when it is missing.
func cgFile(t *testing.T, ctrl, cgPath, file string) (string, bool) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", ctrl, cgPath, file))
	if os.IsNotExist(err) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b)), true
}

// blkioWeightFile is the blkio weight file this kernel has, if any.
func blkioWeightFile() string {
	for _, f := range []string{"blkio.weight", "blkio.bfq.weight"} {
		if _, err := os.Stat("/sys/fs/cgroup/blkio/" + f); err == nil {
			return f
		}
	}
	return ""
}

type cgWant struct{ ctrl, file, want string }

func checkCgroup(t *testing.T, cgPath string, wants []cgWant) {
	t.Helper()
	for _, w := range wants {
		got, ok := cgFile(t, w.ctrl, cgPath, w.file)
		if !ok {
			if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", w.ctrl, w.file)); os.IsNotExist(err) {
				t.Logf("%s: not on this kernel, not checked", w.file)
				continue
			}
			t.Errorf("%s/%s: missing from the container's cgroup %s", w.ctrl, w.file, cgPath)
			continue
		}
		if got != w.want {
			t.Errorf("%s/%s = %q, want %q", w.ctrl, w.file, got, w.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestCgroupResources(t *testing.T) {
	requireCgroupV1(t)
	r := newRT(t)
	weightFile := blkioWeightFile()
	b := bundle(t, func(s *specs.Spec) {
		res := s.Linux.Resources
		res.Memory = &specs.LinuxMemory{Limit: ptr[int64](64 << 20), Reservation: ptr[int64](32 << 20), Swap: ptr[int64](128 << 20)}
		res.Pids = &specs.LinuxPids{Limit: ptr[int64](50)}
		res.CPU = &specs.LinuxCPU{Shares: ptr[uint64](512), Quota: ptr[int64](50000), Period: ptr[uint64](100000), Cpus: "0", Mems: "0"}
		if weightFile != "" {
			res.BlockIO = &specs.LinuxBlockIO{Weight: ptr[uint16](500)}
		}
	}, "sleep", "1000")
	cgPath := readSpec(t, b).Linux.CgroupsPath
	r.must("create", "--bundle", b, "cg")
	wants := []cgWant{
		{"memory", "memory.limit_in_bytes", "67108864"},
		{"memory", "memory.soft_limit_in_bytes", "33554432"},
		{"memory", "memory.memsw.limit_in_bytes", "134217728"},
		{"pids", "pids.max", "50"},
		{"cpu", "cpu.shares", "512"},
		{"cpu", "cpu.cfs_quota_us", "50000"},
		{"cpu", "cpu.cfs_period_us", "100000"},
		{"cpuset", "cpuset.cpus", "0"},
		{"cpuset", "cpuset.mems", "0"},
	}
	if weightFile != "" {
		wants = append(wants, cgWant{"blkio", weightFile, "500"})
	} else {
		t.Log("no blkio weight file on this kernel: blkio weight not checked")
	}
	checkCgroup(t, cgPath, wants)
	// The created (not yet started) init is already in every controller's cgroup.
	pid := strconv.Itoa(r.state("cg").Pid)
	for _, ctrl := range v1Controllers {
		procs, ok := cgFile(t, ctrl, cgPath, "cgroup.procs")
		if !ok || !containsLine(procs, pid) {
			t.Errorf("%s: init %s not in %s/cgroup.procs (%q)", ctrl, pid, cgPath, procs)
		}
	}

	// update with flags.
	r.must("update", "--memory", "134217728", "--pids-limit", "77", "cg")
	checkCgroup(t, cgPath, []cgWant{
		{"memory", "memory.limit_in_bytes", "134217728"},
		{"pids", "pids.max", "77"},
		{"cpu", "cpu.shares", "512"}, // untouched
	})
	// update -r: a memory limit above the current memory+swap limit needs
	// memsw raised first.
	rf := filepath.Join(t.TempDir(), "res.json")
	if err := os.WriteFile(rf, []byte(`{"memory":{"limit":201326592,"swap":268435456},"cpu":{"shares":256,"quota":20000},"pids":{"limit":88}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	r.must("update", "-r", rf, "cg")
	checkCgroup(t, cgPath, []cgWant{
		{"memory", "memory.limit_in_bytes", "201326592"},
		{"memory", "memory.memsw.limit_in_bytes", "268435456"},
		{"cpu", "cpu.shares", "256"},
		{"cpu", "cpu.cfs_quota_us", "20000"},
		{"cpu", "cpu.cfs_period_us", "100000"},
		{"pids", "pids.max", "88"},
	})
	// And back down: memory first, then memsw.
	r.must("update", "--memory", "33554432", "--memory-swap", "67108864", "cg")
	checkCgroup(t, cgPath, []cgWant{
		{"memory", "memory.limit_in_bytes", "33554432"},
		{"memory", "memory.memsw.limit_in_bytes", "67108864"},
	})
	if res := r.run("update", "--memory", "lots", "cg"); res.code == 0 || !strings.Contains(res.stderr, "memory") {
		t.Errorf("update --memory lots: %s", res)
	}

	r.must("start", "cg")
	out := r.must("events", "--stats", "cg")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 {
		t.Fatalf("events --stats printed %d lines: %q", len(lines), out)
	}
	var ev struct {
		Type string `json:"type"`
		ID   string `json:"id"`
		Data struct {
			Pids struct {
				Current uint64 `json:"current"`
				Limit   uint64 `json:"limit"`
			} `json:"pids"`
			Memory struct {
				Usage struct {
					Usage uint64 `json:"usage"`
					Limit uint64 `json:"limit"`
				} `json:"usage"`
			} `json:"memory"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &ev); err != nil {
		t.Fatalf("events --stats: %v: %q", err, out)
	}
	if ev.Type != "stats" || ev.ID != "cg" || ev.Data.Pids.Current < 1 {
		t.Errorf("events --stats: %q", out)
	}
	if ev.Data.Pids.Limit != 88 || ev.Data.Memory.Usage.Limit != 33554432 || ev.Data.Memory.Usage.Usage == 0 {
		t.Errorf("events --stats: pids.limit %d (want 88), memory.usage %+v (want limit 33554432, usage > 0): %s",
			ev.Data.Pids.Limit, ev.Data.Memory.Usage, out)
	}

	r.must("kill", "cg", "KILL")
	r.waitStatus("cg", "stopped")
	r.must("delete", "cg")
	for _, ctrl := range v1Controllers {
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", ctrl, cgPath)); !os.IsNotExist(err) {
			t.Errorf("cgroup %s%s left after delete (%v)", ctrl, cgPath, err)
		}
	}
}

func containsLine(s, line string) bool {
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) == line {
			return true
		}
	}
	return false
}

func TestCgroupPidsLimitEnforced(t *testing.T) {
	requireCgroupV1(t)
	r := newRT(t)
	limit := func(n int64) func(*specs.Spec) {
		return func(s *specs.Spec) { s.Linux.Resources.Pids = &specs.LinuxPids{Limit: &n} }
	}
	const script = "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 30 & done; echo all-forked; kill $(jobs -p)"
	res := r.runSh(limit(5), script)
	if res.code == 0 || strings.Contains(res.stdout, "all-forked") || !strings.Contains(res.stderr, "fork") {
		t.Errorf("10 forks under pids.max 5: %s", res)
	}
	// The control: the same script under a roomy limit.
	if res := r.runSh(limit(50), script); !strings.Contains(res.stdout, "all-forked") {
		t.Errorf("10 forks under pids.max 50: %s", res)
	}
}

func TestCgroupDeviceRules(t *testing.T) {
	requireCgroupV1(t)
	r := newRT(t)
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("needs /dev/fuse (c 10:229) on the host")
	}
	// /dev/fuse is not one of the default devices: bind it in, and only the
	// cgroup rules decide whether it opens.
	rule := func(allow bool, typ string, major, minor int64, access string) specs.LinuxDeviceCgroup {
		return specs.LinuxDeviceCgroup{Allow: allow, Type: typ, Major: &major, Minor: &minor, Access: access}
	}
	with := func(rules ...specs.LinuxDeviceCgroup) func(*specs.Spec) {
		return func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/dev/fuse", Type: "bind", Source: "/dev/fuse", Options: []string{"bind"}})
			s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, rules...)
		}
	}
	const script = `(exec 3</dev/fuse) && echo fuse-read
(exec 3>/dev/fuse) && echo fuse-write
echo zero=$(head -c 4 /dev/zero | wc -c)
echo x >/dev/null && echo null-write
true`
	tests := []struct {
		name      string
		edit      func(*specs.Spec)
		want      []string
		notWanted []string
	}{
		{"deny-all only", with(), []string{"zero=4", "null-write"}, []string{"fuse-read", "fuse-write"}},
		{"allow fuse", with(rule(true, "c", 10, 229, "rwm")), []string{"fuse-read", "fuse-write"}, nil},
		{"allow fuse then deny write", with(rule(true, "c", 10, 229, "rwm"), rule(false, "c", 10, 229, "w")), []string{"fuse-read"}, []string{"fuse-write"}},
		{"allow wildcard minor", with(rule(true, "c", 10, -1, "r")), []string{"fuse-read"}, []string{"fuse-write"}},
		// The default devices stay usable whatever the spec says: the runtime
		// must supply them (runtime spec, "Default Devices"); runc 1.1.5 and
		// crun 1.8.1 on this machine also append their allow rules last.
		{"deny /dev/null after the defaults", with(rule(false, "c", 1, 3, "rwm")), []string{"zero=4", "null-write"}, []string{"fuse-read"}},
	}
	for _, tc := range tests {
		res := r.runSh(tc.edit, script)
		if res.code != 0 {
			t.Errorf("%s: %s", tc.name, res)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(res.stdout, w+"\n") {
				t.Errorf("%s: %q missing: %s", tc.name, w, res)
			}
		}
		for _, w := range tc.notWanted {
			if strings.Contains(res.stdout, w+"\n") {
				t.Errorf("%s: %q allowed: %s", tc.name, w, res)
			} else if !strings.Contains(res.stderr, "Operation not permitted") {
				t.Errorf("%s: %q refused for another reason: %s", tc.name, w, res)
			}
		}
	}
}
