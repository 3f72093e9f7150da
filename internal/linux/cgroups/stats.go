package cgroups

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/errdefs"
)

// Stats is a container's resource usage, encoded as runc's
// `runc events --stats` "data" object so tools that read it can read ours.
type Stats struct {
	CPU     CPU                `json:"cpu"`
	CPUSet  *CPUSet            `json:"cpuset,omitempty"`
	Memory  Memory             `json:"memory"`
	Pids    Pids               `json:"pids"`
	Blkio   Blkio              `json:"blkio"`
	Hugetlb map[string]Hugetlb `json:"hugetlb"`
}

// CPU usage is in nanoseconds.
type CPU struct {
	Usage      CPUUsage   `json:"usage,omitempty"`
	Throttling Throttling `json:"throttling,omitempty"`
}

type CPUUsage struct {
	Total        uint64   `json:"total,omitempty"`
	Percpu       []uint64 `json:"percpu,omitempty"`
	PercpuKernel []uint64 `json:"percpu_kernel,omitempty"`
	PercpuUser   []uint64 `json:"percpu_user,omitempty"`
	Kernel       uint64   `json:"kernel"`
	User         uint64   `json:"user"`
}

type Throttling struct {
	Periods          uint64 `json:"periods,omitempty"`
	ThrottledPeriods uint64 `json:"throttledPeriods,omitempty"`
	ThrottledTime    uint64 `json:"throttledTime,omitempty"`
}

type CPUSet struct {
	CPUs                  []uint16 `json:"cpus,omitempty"`
	CPUExclusive          uint64   `json:"cpu_exclusive"`
	Mems                  []uint16 `json:"mems,omitempty"`
	MemHardwall           uint64   `json:"mem_hardwall"`
	MemExclusive          uint64   `json:"mem_exclusive"`
	MemoryMigrate         uint64   `json:"memory_migrate"`
	MemorySpreadPage      uint64   `json:"memory_spread_page"`
	MemorySpreadSlab      uint64   `json:"memory_spread_slab"`
	MemoryPressure        uint64   `json:"memory_pressure"`
	SchedLoadBalance      uint64   `json:"sched_load_balance"`
	SchedRelaxDomainLevel int64    `json:"sched_relax_domain_level"`
}

type MemoryEntry struct {
	Limit   uint64 `json:"limit"`
	Usage   uint64 `json:"usage,omitempty"`
	Max     uint64 `json:"max,omitempty"`
	Failcnt uint64 `json:"failcnt"`
}

type Memory struct {
	Cache     uint64            `json:"cache,omitempty"`
	Usage     MemoryEntry       `json:"usage,omitempty"`
	Swap      MemoryEntry       `json:"swap,omitempty"`
	Kernel    MemoryEntry       `json:"kernel,omitempty"`
	KernelTCP MemoryEntry       `json:"kernelTCP,omitempty"`
	Raw       map[string]uint64 `json:"raw,omitempty"`
}

type Pids struct {
	Current uint64 `json:"current,omitempty"`
	Limit   uint64 `json:"limit,omitempty"`
}

type BlkioEntry struct {
	Major uint64 `json:"major,omitempty"`
	Minor uint64 `json:"minor,omitempty"`
	Op    string `json:"op,omitempty"`
	Value uint64 `json:"value,omitempty"`
}

type Blkio struct {
	IoServiceBytesRecursive []BlkioEntry `json:"ioServiceBytesRecursive,omitempty"`
	IoServicedRecursive     []BlkioEntry `json:"ioServicedRecursive,omitempty"`
	IoQueuedRecursive       []BlkioEntry `json:"ioQueueRecursive,omitempty"`
	IoServiceTimeRecursive  []BlkioEntry `json:"ioServiceTimeRecursive,omitempty"`
	IoWaitTimeRecursive     []BlkioEntry `json:"ioWaitTimeRecursive,omitempty"`
	IoMergedRecursive       []BlkioEntry `json:"ioMergedRecursive,omitempty"`
	IoTimeRecursive         []BlkioEntry `json:"ioTimeRecursive,omitempty"`
	SectorsRecursive        []BlkioEntry `json:"sectorsRecursive,omitempty"`
}

type Hugetlb struct {
	Usage   uint64 `json:"usage,omitempty"`
	Max     uint64 `json:"max,omitempty"`
	Failcnt uint64 `json:"failcnt"`
}

// Stats reads the container's current resource usage. Controllers that
// are not mounted (or files the kernel does not have) leave their part zero.
func (m *Manager) Stats() (*Stats, error) {
	if d := m.pidsDir(); d == "" || !dirExists(d) {
		return nil, fmt.Errorf("cgroups: %s: %w", d, errdefs.ErrNotFound)
	}
	s := &Stats{Hugetlb: map[string]Hugetlb{}}
	var err error
	if m.version == 2 {
		err = m.statsV2(s)
	} else {
		err = m.statsV1(s)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// reader collects the first real error of a series of optional reads: a
// missing file reads as empty.
type reader struct{ err error }

func (r *reader) str(dir, file string) string {
	if r.err != nil || dir == "" {
		return ""
	}
	b, err := readAll(dir + "/" + file)
	if err != nil {
		if !isNotExist(err) {
			r.err = err
		}
		return ""
	}
	return strings.TrimSpace(string(b))
}

func (r *reader) uint(dir, file string) uint64 {
	s := r.str(dir, file)
	if s == "" {
		return 0
	}
	v, err := parseUint(s, dir+"/"+file)
	if err != nil && r.err == nil {
		r.err = err
	}
	return v
}

// kv reads a flat keyed file ("name value" lines).
func (r *reader) kv(dir, file string) map[string]uint64 {
	return parseKV(r.str(dir, file))
}

func parseKV(s string) map[string]uint64 {
	if s == "" {
		return nil
	}
	out := make(map[string]uint64, 48)
	for _, line := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err == nil {
			out[k] = n
		} else if strings.TrimSpace(v) == "max" {
			out[k] = ^uint64(0)
		}
	}
	return out
}

func parseUints(s string) []uint64 {
	f := strings.Fields(s)
	if len(f) == 0 {
		return nil
	}
	out := make([]uint64, 0, len(f))
	for _, x := range f {
		v, _ := strconv.ParseUint(x, 10, 64)
		out = append(out, v)
	}
	return out
}

// parseCPUList expands "0-3,7" into its numbers.
func parseCPUList(s string) []uint16 {
	var out []uint16
	for _, part := range strings.Split(strings.TrimSpace(s), ",") {
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseUint(lo, 10, 16)
		if err != nil {
			return out
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 16); err != nil || b < a {
				return out
			}
		}
		for i := a; i <= b; i++ {
			out = append(out, uint16(i))
		}
	}
	return out
}

// hugePageSizes lists the page sizes the kernel supports, as cgroup file
// names spell them ("2MB", "1GB").
func (m *Manager) hugePageSizes() []string {
	ents, err := os.ReadDir(m.src.root + "/sys/kernel/mm/hugepages")
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		kb, ok := strings.CutPrefix(e.Name(), "hugepages-")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(kb, "kB"), 10, 64)
		if err != nil {
			continue
		}
		out = append(out, pageSizeName(n))
	}
	return out
}

func pageSizeName(kb uint64) string {
	switch {
	case kb >= 1<<20 && kb%(1<<20) == 0:
		return strconv.FormatUint(kb>>20, 10) + "GB"
	case kb >= 1<<10 && kb%(1<<10) == 0:
		return strconv.FormatUint(kb>>10, 10) + "MB"
	default:
		return strconv.FormatUint(kb, 10) + "KB"
	}
}
