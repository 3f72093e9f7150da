package cgroups

import (
	"strconv"
	"strings"
)

func (m *Manager) statsV2(s *Stats) error {
	var r reader
	d := m.dirs[m.unified].dir

	st := r.kv(d, "cpu.stat")
	s.CPU.Usage.Total = st["usage_usec"] * 1000
	s.CPU.Usage.User = st["user_usec"] * 1000
	s.CPU.Usage.Kernel = st["system_usec"] * 1000
	s.CPU.Throttling = Throttling{Periods: st["nr_periods"], ThrottledPeriods: st["nr_throttled"], ThrottledTime: st["throttled_usec"] * 1000}

	if cpus := r.str(d, "cpuset.cpus.effective"); cpus != "" {
		s.CPUSet = &CPUSet{CPUs: parseCPUList(cpus), Mems: parseCPUList(r.str(d, "cpuset.mems.effective"))}
	}

	// memory: swap is reported as memory+swap, as v1's memsw counters are.
	cur := r.uint(d, "memory.current")
	limit := r.uint(d, "memory.max")
	s.Memory.Usage = MemoryEntry{Usage: cur, Limit: limit, Max: r.uint(d, "memory.peak"), Failcnt: parseKV(r.str(d, "memory.events"))["max"]}
	if swapLimit := r.str(d, "memory.swap.max"); swapLimit != "" {
		sw := MemoryEntry{Usage: r.uint(d, "memory.swap.current") + cur, Limit: ^uint64(0)}
		if v, err := parseUint(swapLimit, d); err == nil && v != ^uint64(0) && limit != ^uint64(0) {
			sw.Limit = v + limit
		}
		sw.Failcnt = parseKV(r.str(d, "memory.swap.events"))["max"]
		s.Memory.Swap = sw
	}
	s.Memory.Raw = r.kv(d, "memory.stat")
	s.Memory.Cache = s.Memory.Raw["file"]

	s.Pids.Current = r.uint(d, "pids.current")
	if lim := r.uint(d, "pids.max"); lim != ^uint64(0) {
		s.Pids.Limit = lim
	}

	s.Blkio.IoServiceBytesRecursive, s.Blkio.IoServicedRecursive = parseIOStat(r.str(d, "io.stat"))

	for _, size := range m.hugePageSizes() {
		p := "hugetlb." + size + "."
		if v := r.str(d, p+"current"); v != "" {
			n, _ := strconv.ParseUint(v, 10, 64)
			s.Hugetlb[size] = Hugetlb{Usage: n, Failcnt: parseKV(r.str(d, p+"events"))["max"]}
		}
	}
	return r.err
}

// parseIOStat reads io.stat lines ("8:0 rbytes=1 wbytes=2 rios=3 wios=4
// dbytes=5 dios=6") into bytes and operation counts per device.
func parseIOStat(s string) (bytes, ios []BlkioEntry) {
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		maj, min, ok := strings.Cut(f[0], ":")
		if !ok {
			continue
		}
		ma, err1 := strconv.ParseUint(maj, 10, 64)
		mi, err2 := strconv.ParseUint(min, 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		for _, kv := range f[1:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				continue
			}
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil || len(k) < 2 {
				continue
			}
			var op string
			switch k[1:] {
			case "bytes", "ios":
			default:
				continue
			}
			switch k[0] {
			case 'r':
				op = "Read"
			case 'w':
				op = "Write"
			case 'd':
				op = "Discard"
			default:
				continue
			}
			e := BlkioEntry{Major: ma, Minor: mi, Op: op, Value: n}
			if k[1:] == "bytes" {
				bytes = append(bytes, e)
			} else {
				ios = append(ios, e)
			}
		}
	}
	return bytes, ios
}
