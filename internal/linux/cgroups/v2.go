package cgroups

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/errdefs"
)

// v2File is one write for the unified hierarchy.
// If file is missing and alt is set, alt gets altVal instead.
type v2File struct{ file, val, alt, altVal string }

// setV2 writes r into the unified directory.
func (m *Manager) setV2(r *specs.LinuxResources) error {
	d := m.dirs[m.unified].dir
	files, err := v2Files(r, func(file string) (string, error) { return readString(d, file) })
	if err != nil {
		return err
	}
	if r.Memory != nil && r.Memory.CheckBeforeUpdate != nil && *r.Memory.CheckBeforeUpdate &&
		r.Memory.Limit != nil && *r.Memory.Limit > 0 {
		if err := checkUsage(d, "memory.current", *r.Memory.Limit); err != nil {
			return err
		}
	}
	for _, f := range files {
		err := writeFile(d, f.file, f.val)
		if err != nil && f.alt != "" && isNotExist(err) {
			if err2 := writeFile(d, f.alt, f.altVal); err2 == nil || !isNotExist(err2) {
				err = err2
			}
		}
		if err == nil {
			continue
		}
		if isNotExist(err) {
			if optionalV2(f.file) {
				continue
			}
			ctrl, _, _ := strings.Cut(f.file, ".")
			return fmt.Errorf("%w (is the %s controller enabled in the parent's cgroup.subtree_control?)", err, ctrl)
		}
		return err
	}
	if len(r.Devices) > 0 {
		attach := attachDeviceRules
		if m.src.attachDevices != nil {
			attach = m.src.attachDevices
		}
		if err := attach(d, r.Devices); err != nil {
			return err
		}
	}
	return nil
}

// optionalV2 names files whose absence means the feature is just not there.
func optionalV2(file string) bool {
	return file == "memory.swap.max" || strings.HasSuffix(file, ".rsvd.max")
}

// v2Files converts r into unified-hierarchy writes, in order. read gives
// the current content of a file, needed only when r sets a period without
// a quota or swap without a limit.
func v2Files(r *specs.LinuxResources, read func(string) (string, error)) ([]v2File, error) {
	var out []v2File
	add := func(f, v string) { out = append(out, v2File{file: f, val: v}) }

	if mem := r.Memory; mem != nil {
		if mem.Limit != nil && *mem.Limit != 0 {
			add("memory.max", maxOr(*mem.Limit))
		}
		if mem.Reservation != nil && *mem.Reservation != 0 {
			add("memory.low", maxOr(*mem.Reservation))
		}
		if mem.Swap != nil && *mem.Swap != 0 {
			v, err := swapMax(mem, read)
			if err != nil {
				return nil, err
			}
			add("memory.swap.max", v)
		}
		// swappiness, disableOOMKiller, useHierarchy and kernel limits have
		// no cgroup v2 counterpart; they are ignored.
	}
	if c := r.CPU; c != nil {
		if c.Shares != nil && *c.Shares != 0 {
			add("cpu.weight", utoa(sharesToWeight(*c.Shares)))
		}
		quota := c.Quota != nil && *c.Quota != 0
		period := c.Period != nil && *c.Period != 0
		switch {
		case quota && period:
			add("cpu.max", quotaStr(*c.Quota)+" "+utoa(*c.Period))
		case quota:
			add("cpu.max", quotaStr(*c.Quota)) // keeps the current period
		case period:
			cur, err := read("cpu.max")
			if err != nil {
				return nil, err
			}
			q, _, _ := strings.Cut(cur, " ")
			if q == "" {
				q = "max"
			}
			add("cpu.max", q+" "+utoa(*c.Period))
		}
		if c.Burst != nil {
			add("cpu.max.burst", utoa(*c.Burst))
		}
		if c.Idle != nil {
			add("cpu.idle", itoa(*c.Idle))
		}
		if (c.RealtimeRuntime != nil && *c.RealtimeRuntime != 0) || (c.RealtimePeriod != nil && *c.RealtimePeriod != 0) {
			return nil, errdefs.InvalidArgument("linux.resources.cpu.realtimeRuntime: real-time CPU limits are not supported on cgroup v2")
		}
		if c.Cpus != "" {
			add("cpuset.cpus", c.Cpus)
		}
		if c.Mems != "" {
			add("cpuset.mems", c.Mems)
		}
	}
	if r.Pids != nil && r.Pids.Limit != nil {
		add("pids.max", pidsMax(*r.Pids.Limit))
	}
	if b := r.BlockIO; b != nil {
		// io.weight (blk-iocost) takes 1..10000; without it, BFQ's
		// io.bfq.weight takes the v1 range (10..1000) as is.
		if b.Weight != nil && *b.Weight != 0 {
			out = append(out, v2File{"io.weight", "default " + utoa(blkioToIOWeight(*b.Weight)),
				"io.bfq.weight", "default " + strconv.Itoa(int(*b.Weight))})
		}
		for _, wd := range b.WeightDevice {
			if wd.Weight != nil {
				k := devKey(wd.LinuxBlockIODevice)
				out = append(out, v2File{"io.weight", k + " " + utoa(blkioToIOWeight(*wd.Weight)),
					"io.bfq.weight", k + " " + strconv.Itoa(int(*wd.Weight))})
			}
		}
		for _, l := range ioMaxLines(b) {
			add("io.max", l)
		}
	}
	for _, l := range r.HugepageLimits {
		add("hugetlb."+l.Pagesize+".max", utoa(l.Limit))
		add("hugetlb."+l.Pagesize+".rsvd.max", utoa(l.Limit))
	}
	if len(r.Rdma) > 0 {
		names := make([]string, 0, len(r.Rdma))
		for k := range r.Rdma {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, name := range names {
			l := r.Rdma[name]
			line := name
			if l.HcaHandles != nil {
				line += " hca_handle=" + strconv.FormatUint(uint64(*l.HcaHandles), 10)
			}
			if l.HcaObjects != nil {
				line += " hca_object=" + strconv.FormatUint(uint64(*l.HcaObjects), 10)
			}
			if line != name {
				add("rdma.max", line)
			}
		}
	}
	// linux.resources.network has no v2 controller (it is done with eBPF
	// by network plugins); ignored.
	if len(r.Unified) > 0 {
		keys := make([]string, 0, len(r.Unified))
		for k := range r.Unified {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			add(k, r.Unified[k])
		}
	}
	return out, nil
}

// maxOr maps -1 (unlimited) to "max".
func maxOr(v int64) string {
	if v < 0 {
		return "max"
	}
	return itoa(v)
}

func quotaStr(q int64) string {
	if q < 0 {
		return "max"
	}
	return itoa(q)
}

// swapMax converts OCI swap (memory+swap) to memory.swap.max (swap only).
func swapMax(mem *specs.LinuxMemory, read func(string) (string, error)) (string, error) {
	swap := *mem.Swap
	if swap < 0 {
		return "max", nil
	}
	var limit int64
	switch {
	case mem.Limit != nil && *mem.Limit != 0:
		limit = *mem.Limit
	default:
		cur, err := read("memory.max")
		if err != nil {
			return "", err
		}
		if cur == "max" {
			limit = -1
		} else if limit, err = strconv.ParseInt(cur, 10, 64); err != nil {
			return "", fmt.Errorf("cgroups: parse memory.max %q: %w", cur, err)
		}
	}
	if limit < 0 {
		return "", errdefs.InvalidArgument("linux.resources.memory.swap: %d needs a memory limit on cgroup v2 (swap counts memory plus swap)", swap)
	}
	if swap < limit {
		return "", errdefs.InvalidArgument("linux.resources.memory.swap: %d is below the memory limit %d", swap, limit)
	}
	return itoa(swap - limit), nil
}

// sharesToWeight maps cpu.shares (2..262144) onto cpu.weight (1..10000).
func sharesToWeight(shares uint64) uint64 {
	shares = min(max(shares, 2), 262144)
	return 1 + ((shares-2)*9999)/262142
}

// blkioToIOWeight maps blkio.weight (10..1000) onto io.weight (1..10000).
func blkioToIOWeight(w uint16) uint64 {
	v := min(max(uint64(w), 10), 1000)
	return 1 + ((v-10)*9999)/990
}

// ioMaxLines builds one io.max line per device, combining its throttles.
func ioMaxLines(b *specs.LinuxBlockIO) []string {
	type lim struct {
		key  string
		vals [4]string // rbps wbps riops wiops
	}
	var order []string
	byDev := map[string]*lim{}
	addL := func(devs []specs.LinuxThrottleDevice, i int) {
		for _, d := range devs {
			k := devKey(d.LinuxBlockIODevice)
			l := byDev[k]
			if l == nil {
				l = &lim{key: k}
				byDev[k] = l
				order = append(order, k)
			}
			v := "max"
			if d.Rate != 0 {
				v = utoa(d.Rate)
			}
			l.vals[i] = v
		}
	}
	addL(b.ThrottleReadBpsDevice, 0)
	addL(b.ThrottleWriteBpsDevice, 1)
	addL(b.ThrottleReadIOPSDevice, 2)
	addL(b.ThrottleWriteIOPSDevice, 3)
	names := [4]string{"rbps", "wbps", "riops", "wiops"}
	out := make([]string, 0, len(order))
	for _, k := range order {
		l := byDev[k]
		line := k
		for i, v := range l.vals {
			if v != "" {
				line += " " + names[i] + "=" + v
			}
		}
		out = append(out, line)
	}
	return out
}
