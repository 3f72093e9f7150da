package cgroups

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/errdefs"
)

func (f *fakeHost) hugepages(sizes ...string) {
	for _, s := range sizes {
		if err := os.MkdirAll(f.root+"/sys/kernel/mm/hugepages/hugepages-"+s, 0o755); err != nil {
			f.t.Fatal(err)
		}
	}
}

func TestStatsV1(t *testing.T) {
	f := newFakeHost(t, hybridMountinfo, hybridSelfCgroup)
	f.hugepages("2048kB", "1048576kB")
	m, _ := openWith(f.src, "/s", false)
	if err := m.Create(nil); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"cpuacct/s/cpuacct.usage":                           "123456789\n",
		"cpuacct/s/cpuacct.usage_percpu":                    "100 200 \n",
		"cpuacct/s/cpuacct.usage_percpu_sys":                "10 20\n",
		"cpuacct/s/cpuacct.usage_percpu_user":               "90 180\n",
		"cpuacct/s/cpuacct.stat":                            "user 25\nsystem 7\n",
		"cpu/s/cpu.stat":                                    "nr_periods 10\nnr_throttled 3\nthrottled_time 4000\nnr_bursts 0\n",
		"cpuset/s/cpuset.cpus":                              "0-1,3\n",
		"cpuset/s/cpuset.sched_relax_domain_level":          "-1\n",
		"memory/s/memory.usage_in_bytes":                    "1048576\n",
		"memory/s/memory.max_usage_in_bytes":                "2097152\n",
		"memory/s/memory.limit_in_bytes":                    "67108864\n",
		"memory/s/memory.failcnt":                           "2\n",
		"memory/s/memory.memsw.usage_in_bytes":              "1048577\n",
		"memory/s/memory.memsw.limit_in_bytes":              "9223372036854771712\n",
		"memory/s/memory.stat":                              "cache 4096\nrss 8192\ntotal_cache 4096\n",
		"pids/s/pids.current":                               "3\n",
		"pids/s/pids.max":                                   "max\n",
		"blkio/s/blkio.throttle.io_service_bytes_recursive": "8:0 Read 4096\n8:0 Write 512\nTotal 4608\n",
		"blkio/s/blkio.throttle.io_serviced_recursive":      "8:0 Read 1\n8:0 Write 1\nTotal 2\n",
		"blkio/s/blkio.bfq.io_service_bytes_recursive":      "Total 0\n",
		"unified/s/hugetlb.2MB.current":                     "2097152\n",
		"unified/s/hugetlb.2MB.events":                      "max 4\n",
	}
	for p, v := range files {
		f.write(f.root+"/sys/fs/cgroup/"+p, v)
	}
	s, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	u := s.CPU.Usage
	if u.Total != 123456789 || !reflect.DeepEqual(u.Percpu, []uint64{100, 200}) || !reflect.DeepEqual(u.PercpuKernel, []uint64{10, 20}) ||
		!reflect.DeepEqual(u.PercpuUser, []uint64{90, 180}) || u.User != 250000000 || u.Kernel != 70000000 {
		t.Errorf("cpu usage %+v", u)
	}
	if s.CPU.Throttling != (Throttling{10, 3, 4000}) {
		t.Errorf("throttling %+v", s.CPU.Throttling)
	}
	if s.CPUSet == nil || !reflect.DeepEqual(s.CPUSet.CPUs, []uint16{0, 1, 3}) || s.CPUSet.SchedRelaxDomainLevel != -1 {
		t.Errorf("cpuset %+v", s.CPUSet)
	}
	if s.Memory.Usage != (MemoryEntry{Limit: 67108864, Usage: 1048576, Max: 2097152, Failcnt: 2}) ||
		s.Memory.Swap.Usage != 1048577 || s.Memory.Cache != 4096 || s.Memory.Raw["rss"] != 8192 {
		t.Errorf("memory %+v", s.Memory)
	}
	if s.Pids != (Pids{Current: 3}) {
		t.Errorf("pids %+v", s.Pids)
	}
	wantIO := []BlkioEntry{{8, 0, "Read", 4096}, {8, 0, "Write", 512}}
	if !reflect.DeepEqual(s.Blkio.IoServiceBytesRecursive, wantIO) || len(s.Blkio.IoServicedRecursive) != 2 {
		t.Errorf("blkio %+v", s.Blkio)
	}
	if s.Hugetlb["2MB"] != (Hugetlb{Usage: 2097152, Failcnt: 4}) {
		t.Errorf("hugetlb %+v", s.Hugetlb)
	}
	if _, ok := s.Hugetlb["1GB"]; !ok {
		t.Errorf("no 1GB entry: %+v", s.Hugetlb)
	}

	// The JSON keys are runc's.
	b, _ := json.Marshal(s)
	for _, key := range []string{`"cpu":{"usage":{"total":123456789,"percpu":[100,200],"percpu_kernel":[10,20],"percpu_user":[90,180],"kernel":70000000,"user":250000000},"throttling":{"periods":10,"throttledPeriods":3,"throttledTime":4000}}`,
		`"pids":{"current":3}`, `"ioServiceBytesRecursive":[{"major":8,"op":"Read","value":4096}`, `"hugetlb":{`, `"2MB":{"usage":2097152,"failcnt":4}`,
		`"usage":{"limit":67108864,"usage":1048576,"max":2097152,"failcnt":2}`, `"raw":{`, `"cache":4096`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON lacks %s\n%s", key, b)
		}
	}
	m.Destroy()
	if _, err := m.Stats(); !errdefs.IsNotFound(err) {
		t.Errorf("Stats after Destroy: %v", err)
	}
}

func TestStatsV2(t *testing.T) {
	f := newFakeHost(t, v2Mountinfo, v2SelfCgroup)
	f.hugepages("2048kB")
	m, _ := openWith(f.src, "/s", false)
	if err := m.Create(nil); err != nil {
		t.Fatal(err)
	}
	d := m.Path("")
	for p, v := range map[string]string{
		"cpu.stat":              "usage_usec 1000\nuser_usec 600\nsystem_usec 400\nnr_periods 5\nnr_throttled 1\nthrottled_usec 20\n",
		"cpuset.cpus.effective": "0-1\n",
		"cpuset.mems.effective": "0\n",
		"memory.current":        "4096\n",
		"memory.max":            "8192\n",
		"memory.peak":           "5000\n",
		"memory.events":         "low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\n",
		"memory.swap.current":   "100\n",
		"memory.swap.max":       "max\n",
		"memory.stat":           "anon 1\nfile 2048\n",
		"pids.current":          "2\n",
		"pids.max":              "20\n",
		"io.stat":               "8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n259:0 rbytes=5 wbytes=0 rios=1 wios=0\n",
		"hugetlb.2MB.current":   "0\n",
	} {
		f.write(d+"/"+p, v)
	}
	s, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.CPU.Usage.Total != 1000000 || s.CPU.Usage.User != 600000 || s.CPU.Usage.Kernel != 400000 ||
		s.CPU.Throttling != (Throttling{5, 1, 20000}) {
		t.Errorf("cpu %+v", s.CPU)
	}
	if s.Memory.Usage != (MemoryEntry{Limit: 8192, Usage: 4096, Max: 5000, Failcnt: 7}) || s.Memory.Cache != 2048 {
		t.Errorf("memory %+v", s.Memory)
	}
	if s.Memory.Swap.Usage != 4196 || s.Memory.Swap.Limit != ^uint64(0) {
		t.Errorf("swap %+v", s.Memory.Swap)
	}
	if s.Pids != (Pids{2, 20}) {
		t.Errorf("pids %+v", s.Pids)
	}
	want := []BlkioEntry{{8, 0, "Read", 10}, {8, 0, "Write", 20}, {8, 0, "Discard", 0}, {259, 0, "Read", 5}, {259, 0, "Write", 0}}
	if !reflect.DeepEqual(s.Blkio.IoServiceBytesRecursive, want) {
		t.Errorf("io bytes %+v", s.Blkio.IoServiceBytesRecursive)
	}
	if len(s.Blkio.IoServicedRecursive) != 5 || s.Blkio.IoServicedRecursive[1].Value != 2 {
		t.Errorf("io ops %+v", s.Blkio.IoServicedRecursive)
	}
	if s.CPUSet == nil || len(s.CPUSet.CPUs) != 2 {
		t.Errorf("cpuset %+v", s.CPUSet)
	}
	if _, ok := s.Hugetlb["2MB"]; !ok {
		t.Errorf("hugetlb %+v", s.Hugetlb)
	}
}

func TestParseHelpers(t *testing.T) {
	if got := parseCPUList("0-2,5,7-7"); !reflect.DeepEqual(got, []uint16{0, 1, 2, 5, 7}) {
		t.Errorf("parseCPUList = %v", got)
	}
	for kb, want := range map[uint64]string{2048: "2MB", 1048576: "1GB", 64: "64KB", 32768: "32MB", 16777216: "16GB"} {
		if got := pageSizeName(kb); got != want {
			t.Errorf("pageSizeName(%d) = %q, want %q", kb, got, want)
		}
	}
	if v, err := parseUint("-1", "x"); err != nil || v != 0 {
		t.Errorf("parseUint(-1) = %d, %v", v, err)
	}
}
