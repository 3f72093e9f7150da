package cgroups

import (
	"strconv"
	"strings"
)

// nsPerTick converts cpuacct.stat's USER_HZ ticks (always 100/s) to ns.
const nsPerTick = 1e9 / 100

func (m *Manager) statsV1(s *Stats) error {
	var r reader

	if d := m.Path("cpuacct"); d != "" {
		u := &s.CPU.Usage
		u.Total = r.uint(d, "cpuacct.usage")
		u.Percpu = parseUints(r.str(d, "cpuacct.usage_percpu"))
		u.PercpuKernel = parseUints(r.str(d, "cpuacct.usage_percpu_sys"))
		u.PercpuUser = parseUints(r.str(d, "cpuacct.usage_percpu_user"))
		st := r.kv(d, "cpuacct.stat")
		u.User, u.Kernel = st["user"]*nsPerTick, st["system"]*nsPerTick
	}
	if d := m.Path("cpu"); d != "" {
		st := r.kv(d, "cpu.stat")
		s.CPU.Throttling = Throttling{Periods: st["nr_periods"], ThrottledPeriods: st["nr_throttled"], ThrottledTime: st["throttled_time"]}
	}
	if d := m.Path("cpuset"); d != "" {
		c := &CPUSet{
			CPUs:             parseCPUList(r.str(d, "cpuset.cpus")),
			Mems:             parseCPUList(r.str(d, "cpuset.mems")),
			CPUExclusive:     r.uint(d, "cpuset.cpu_exclusive"),
			MemHardwall:      r.uint(d, "cpuset.mem_hardwall"),
			MemExclusive:     r.uint(d, "cpuset.mem_exclusive"),
			MemoryMigrate:    r.uint(d, "cpuset.memory_migrate"),
			MemorySpreadPage: r.uint(d, "cpuset.memory_spread_page"),
			MemorySpreadSlab: r.uint(d, "cpuset.memory_spread_slab"),
			MemoryPressure:   r.uint(d, "cpuset.memory_pressure"),
			SchedLoadBalance: r.uint(d, "cpuset.sched_load_balance"),
		}
		if v := r.str(d, "cpuset.sched_relax_domain_level"); v != "" {
			c.SchedRelaxDomainLevel, _ = strconv.ParseInt(v, 10, 64)
		}
		s.CPUSet = c
	}
	if d := m.Path("memory"); d != "" {
		entry := func(prefix string) MemoryEntry {
			return MemoryEntry{
				Usage:   r.uint(d, prefix+"usage_in_bytes"),
				Max:     r.uint(d, prefix+"max_usage_in_bytes"),
				Limit:   r.uint(d, prefix+"limit_in_bytes"),
				Failcnt: r.uint(d, prefix+"failcnt"),
			}
		}
		s.Memory.Usage = entry("memory.")
		s.Memory.Swap = entry("memory.memsw.")
		s.Memory.Kernel = entry("memory.kmem.")
		s.Memory.KernelTCP = entry("memory.kmem.tcp.")
		s.Memory.Raw = r.kv(d, "memory.stat")
		s.Memory.Cache = s.Memory.Raw["cache"]
	}
	if d := m.Path("pids"); d != "" {
		s.Pids.Current = r.uint(d, "pids.current")
		if lim := r.uint(d, "pids.max"); lim != ^uint64(0) {
			s.Pids.Limit = lim
		}
	}
	if d := m.Path("blkio"); d != "" {
		// BFQ's counters when the scheduler keeps them, else the throttle
		// layer's, which count every I/O.
		bytes := parseBlkioV1(r.str(d, "blkio.bfq.io_service_bytes_recursive"))
		ios := parseBlkioV1(r.str(d, "blkio.bfq.io_serviced_recursive"))
		if len(bytes) == 0 && len(ios) == 0 {
			bytes = parseBlkioV1(r.str(d, "blkio.throttle.io_service_bytes_recursive"))
			ios = parseBlkioV1(r.str(d, "blkio.throttle.io_serviced_recursive"))
		}
		s.Blkio.IoServiceBytesRecursive, s.Blkio.IoServicedRecursive = bytes, ios
	}
	if d, v2 := m.dir("hugetlb"); d != "" {
		for _, size := range m.hugePageSizes() {
			p := "hugetlb." + size + "."
			if v2 {
				s.Hugetlb[size] = Hugetlb{Usage: r.uint(d, p+"current"), Failcnt: parseKV(r.str(d, p+"events"))["max"]}
			} else {
				s.Hugetlb[size] = Hugetlb{Usage: r.uint(d, p+"usage_in_bytes"), Max: r.uint(d, p+"max_usage_in_bytes"), Failcnt: r.uint(d, p+"failcnt")}
			}
		}
	}
	return r.err
}

// parseBlkioV1 reads "8:0 Read 4096" lines; the "Total N" summary line is skipped.
func parseBlkioV1(s string) []BlkioEntry {
	var out []BlkioEntry
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		maj, min, ok := strings.Cut(f[0], ":")
		if !ok {
			continue
		}
		e := BlkioEntry{Op: f[1]}
		var err error
		if e.Major, err = strconv.ParseUint(maj, 10, 64); err != nil {
			continue
		}
		if e.Minor, err = strconv.ParseUint(min, 10, 64); err != nil {
			continue
		}
		if e.Value, err = strconv.ParseUint(f[2], 10, 64); err != nil {
			continue
		}
		out = append(out, e)
	}
	return out
}
