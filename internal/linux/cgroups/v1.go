package cgroups

import (
	"errors"
	"fmt"
	"sort"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
)

// setV1 writes r into the v1 controller files (hugetlb on the cgroup2
// mount in the hybrid layout).
func (m *Manager) setV1(r *specs.LinuxResources) error {
	if len(r.Unified) > 0 {
		return errUnifiedOnV1()
	}
	steps := [...]func(*specs.LinuxResources) error{
		m.v1Devices, m.v1Memory, m.v1CPU, m.v1Cpuset, m.v1Pids, m.v1BlockIO,
		m.v1Hugetlb, m.v1Network, m.v1Rdma,
	}
	for _, step := range steps {
		if err := step(r); err != nil {
			return err
		}
	}
	return nil
}

// need returns the directory of a v1 controller a resource needs.
func (m *Manager) need(ctrl, field string) (string, error) {
	d, _ := m.dir(ctrl)
	if d == "" {
		return "", fmt.Errorf("cgroups: %s is set but no %s cgroup hierarchy is mounted: %w", field, ctrl, errdefs.ErrFailedPrecondition)
	}
	return d, nil
}

func itoa(v int64) string  { return strconv.FormatInt(v, 10) }
func utoa(v uint64) string { return strconv.FormatUint(v, 10) }

func boolStr(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func (m *Manager) v1Memory(r *specs.LinuxResources) error {
	mem := r.Memory
	if mem == nil {
		return nil
	}
	limitSet := mem.Limit != nil && *mem.Limit != 0
	swapSet := mem.Swap != nil && *mem.Swap != 0
	if !limitSet && !swapSet && mem.Reservation == nil && mem.Swappiness == nil &&
		mem.DisableOOMKiller == nil && mem.UseHierarchy == nil && mem.KernelTCP == nil {
		return nil // only ignored fields (kernel) or nothing
	}
	d, err := m.need("memory", "linux.resources.memory")
	if err != nil {
		return err
	}
	if limitSet && mem.CheckBeforeUpdate != nil && *mem.CheckBeforeUpdate && *mem.Limit > 0 {
		if err := checkUsage(d, "memory.usage_in_bytes", *mem.Limit); err != nil {
			return err
		}
	}
	// memory.memsw.limit_in_bytes must stay >= memory.limit_in_bytes: raise
	// in the order that keeps that true. Try limit first (right for a new
	// cgroup and for lowering); on EINVAL write swap first.
	writeSwap := func() error {
		if !swapSet {
			return nil
		}
		// Without swap accounting the file is missing; there is nothing to limit.
		return writeOptional(d, "memory.memsw.limit_in_bytes", itoa(*mem.Swap))
	}
	if limitSet {
		err := writeFile(d, "memory.limit_in_bytes", itoa(*mem.Limit))
		switch {
		case err == nil:
			if err := writeSwap(); err != nil {
				return err
			}
		case swapSet && errors.Is(err, unix.EINVAL):
			if err := writeSwap(); err != nil {
				return err
			}
			if err := writeFile(d, "memory.limit_in_bytes", itoa(*mem.Limit)); err != nil {
				return err
			}
		default:
			return err
		}
	} else if err := writeSwap(); err != nil {
		return err
	}
	if mem.Reservation != nil && *mem.Reservation != 0 {
		if err := writeFile(d, "memory.soft_limit_in_bytes", itoa(*mem.Reservation)); err != nil {
			return err
		}
	}
	if mem.KernelTCP != nil && *mem.KernelTCP != 0 {
		// Best effort: kernel memory accounting limits are gone from recent kernels.
		_ = writeFile(d, "memory.kmem.tcp.limit_in_bytes", itoa(*mem.KernelTCP))
	}
	if mem.Swappiness != nil {
		if err := writeFile(d, "memory.swappiness", utoa(*mem.Swappiness)); err != nil {
			return err
		}
	}
	if mem.DisableOOMKiller != nil {
		if err := writeFile(d, "memory.oom_control", boolStr(*mem.DisableOOMKiller)); err != nil {
			return err
		}
	}
	if mem.UseHierarchy != nil {
		// Recent kernels are always hierarchical and refuse 0; that is not
		// worth failing a container for.
		if err := writeFile(d, "memory.use_hierarchy", boolStr(*mem.UseHierarchy)); err != nil &&
			!(errors.Is(err, unix.EINVAL) || isNotExist(err)) {
			return err
		}
	}
	return nil
}

// checkUsage refuses a memory limit below the current usage (CheckBeforeUpdate).
func checkUsage(dir, file string, limit int64) error {
	usage, err := readUint(dir, file)
	if err != nil {
		return err
	}
	if usage > uint64(limit) {
		return errdefs.InvalidArgument("linux.resources.memory.limit: %d is below the current usage %d", limit, usage)
	}
	return nil
}

func (m *Manager) v1CPU(r *specs.LinuxResources) error {
	c := r.CPU
	if c == nil {
		return nil
	}
	type kv struct{ file, val string }
	var w []kv
	if c.Shares != nil && *c.Shares != 0 {
		w = append(w, kv{"cpu.shares", utoa(*c.Shares)})
	}
	quota := c.Quota != nil && *c.Quota != 0
	period := c.Period != nil && *c.Period != 0
	burst := c.Burst != nil
	rtPeriod := c.RealtimePeriod != nil && *c.RealtimePeriod != 0
	rtRuntime := c.RealtimeRuntime != nil && *c.RealtimeRuntime != 0
	if len(w) == 0 && !quota && !period && !burst && !rtPeriod && !rtRuntime && c.Idle == nil {
		return nil
	}
	d, err := m.need("cpu", "linux.resources.cpu")
	if err != nil {
		return err
	}
	for _, x := range w {
		if err := writeFile(d, x.file, x.val); err != nil {
			return err
		}
	}
	// The kernel checks quota against period (and burst against quota) on
	// each write; if period-then-quota is refused, try the other order.
	if period && quota {
		if err := writeFile(d, "cpu.cfs_period_us", utoa(*c.Period)); err != nil {
			if err2 := writeFile(d, "cpu.cfs_quota_us", itoa(*c.Quota)); err2 != nil {
				return err2
			}
			if err := writeFile(d, "cpu.cfs_period_us", utoa(*c.Period)); err != nil {
				return err
			}
		} else if err := writeFile(d, "cpu.cfs_quota_us", itoa(*c.Quota)); err != nil {
			return err
		}
	} else if period {
		if err := writeFile(d, "cpu.cfs_period_us", utoa(*c.Period)); err != nil {
			return err
		}
	} else if quota {
		if err := writeFile(d, "cpu.cfs_quota_us", itoa(*c.Quota)); err != nil {
			return err
		}
	}
	if burst {
		if err := writeFile(d, "cpu.cfs_burst_us", utoa(*c.Burst)); err != nil {
			return err
		}
	}
	if rtPeriod {
		if err := writeFile(d, "cpu.rt_period_us", utoa(*c.RealtimePeriod)); err != nil {
			return err
		}
	}
	if rtRuntime {
		if err := writeFile(d, "cpu.rt_runtime_us", itoa(*c.RealtimeRuntime)); err != nil {
			return err
		}
	}
	if c.Idle != nil {
		if err := writeFile(d, "cpu.idle", itoa(*c.Idle)); err != nil {
			return err
		}
	}
	return nil
}

func (m *Manager) v1Cpuset(r *specs.LinuxResources) error {
	if r.CPU == nil || (r.CPU.Cpus == "" && r.CPU.Mems == "") {
		return nil
	}
	d, err := m.need("cpuset", "linux.resources.cpu.cpus")
	if err != nil {
		return err
	}
	if r.CPU.Cpus != "" {
		if err := writeFile(d, "cpuset.cpus", r.CPU.Cpus); err != nil {
			return err
		}
	}
	if r.CPU.Mems != "" {
		if err := writeFile(d, "cpuset.mems", r.CPU.Mems); err != nil {
			return err
		}
	}
	return nil
}

func pidsMax(limit int64) string {
	if limit <= 0 {
		return "max"
	}
	return itoa(limit)
}

func (m *Manager) v1Pids(r *specs.LinuxResources) error {
	if r.Pids == nil || r.Pids.Limit == nil {
		return nil
	}
	d, err := m.need("pids", "linux.resources.pids")
	if err != nil {
		return err
	}
	return writeFile(d, "pids.max", pidsMax(*r.Pids.Limit))
}

func devKey(d specs.LinuxBlockIODevice) string {
	return strconv.FormatInt(d.Major, 10) + ":" + strconv.FormatInt(d.Minor, 10)
}

func (m *Manager) v1BlockIO(r *specs.LinuxResources) error {
	b := r.BlockIO
	if b == nil {
		return nil
	}
	if b.Weight == nil && b.LeafWeight == nil && len(b.WeightDevice) == 0 && len(b.ThrottleReadBpsDevice) == 0 &&
		len(b.ThrottleWriteBpsDevice) == 0 && len(b.ThrottleReadIOPSDevice) == 0 && len(b.ThrottleWriteIOPSDevice) == 0 {
		return nil
	}
	d, err := m.need("blkio", "linux.resources.blockIO")
	if err != nil {
		return err
	}
	// Weights live in blkio.bfq.* with the BFQ scheduler, in blkio.* with
	// CFQ (older kernels).
	weight := func(file, val string) error {
		err := writeFile(d, "blkio.bfq."+file, val)
		if err != nil && isNotExist(err) {
			err = writeFile(d, "blkio."+file, val)
		}
		return err
	}
	if b.Weight != nil && *b.Weight != 0 {
		if err := weight("weight", strconv.Itoa(int(*b.Weight))); err != nil {
			return err
		}
	}
	if b.LeafWeight != nil && *b.LeafWeight != 0 {
		if err := writeOptional(d, "blkio.leaf_weight", strconv.Itoa(int(*b.LeafWeight))); err != nil {
			return err
		}
	}
	for _, wd := range b.WeightDevice {
		if wd.Weight != nil {
			if err := weight("weight_device", devKey(wd.LinuxBlockIODevice)+" "+strconv.Itoa(int(*wd.Weight))); err != nil {
				return err
			}
		}
		if wd.LeafWeight != nil {
			if err := writeOptional(d, "blkio.leaf_weight_device", devKey(wd.LinuxBlockIODevice)+" "+strconv.Itoa(int(*wd.LeafWeight))); err != nil {
				return err
			}
		}
	}
	for _, t := range [...]struct {
		file string
		devs []specs.LinuxThrottleDevice
	}{
		{"blkio.throttle.read_bps_device", b.ThrottleReadBpsDevice},
		{"blkio.throttle.write_bps_device", b.ThrottleWriteBpsDevice},
		{"blkio.throttle.read_iops_device", b.ThrottleReadIOPSDevice},
		{"blkio.throttle.write_iops_device", b.ThrottleWriteIOPSDevice},
	} {
		for _, dev := range t.devs {
			if err := writeFile(d, t.file, devKey(dev.LinuxBlockIODevice)+" "+utoa(dev.Rate)); err != nil {
				return err
			}
		}
	}
	return nil
}

// v1Hugetlb writes hugetlb limits: v1 files on a v1 hugetlb hierarchy, v2
// files on the cgroup2 mount in the hybrid layout. Reservation limits are
// written too where the kernel has them.
func (m *Manager) v1Hugetlb(r *specs.LinuxResources) error {
	if len(r.HugepageLimits) == 0 {
		return nil
	}
	d, v2 := m.dir("hugetlb")
	if d == "" {
		return fmt.Errorf("cgroups: linux.resources.hugepageLimits is set but no hugetlb controller is available: %w", errdefs.ErrFailedPrecondition)
	}
	return writeHugetlb(d, v2, r.HugepageLimits)
}

func writeHugetlb(d string, v2 bool, limits []specs.LinuxHugepageLimit) error {
	limitFile, rsvdFile := ".limit_in_bytes", ".rsvd.limit_in_bytes"
	if v2 {
		limitFile, rsvdFile = ".max", ".rsvd.max"
	}
	for _, l := range limits {
		v := utoa(l.Limit)
		if err := writeFile(d, "hugetlb."+l.Pagesize+limitFile, v); err != nil {
			if isNotExist(err) {
				return fmt.Errorf("linux.resources.hugepageLimits: page size %q is not supported by the kernel: %w", l.Pagesize, err)
			}
			return err
		}
		if err := writeOptional(d, "hugetlb."+l.Pagesize+rsvdFile, v); err != nil {
			return err
		}
	}
	return nil
}

// v1Network writes net_cls/net_prio settings when those hierarchies are
// mounted; otherwise the settings are ignored.
func (m *Manager) v1Network(r *specs.LinuxResources) error {
	n := r.Network
	if n == nil {
		return nil
	}
	if d := m.Path("net_cls"); d != "" && n.ClassID != nil {
		if err := writeFile(d, "net_cls.classid", strconv.FormatUint(uint64(*n.ClassID), 10)); err != nil {
			return err
		}
	}
	if d := m.Path("net_prio"); d != "" {
		for _, p := range n.Priorities {
			if err := writeFile(d, "net_prio.ifpriomap", p.Name+" "+strconv.FormatUint(uint64(p.Priority), 10)); err != nil {
				return err
			}
		}
	}
	return nil
}

// v1Rdma writes rdma.max when an rdma hierarchy is mounted; otherwise the
// settings are ignored.
func (m *Manager) v1Rdma(r *specs.LinuxResources) error {
	if len(r.Rdma) == 0 {
		return nil
	}
	d := m.Path("rdma")
	if d == "" {
		return nil
	}
	return writeRdma(d, r.Rdma)
}

func writeRdma(d string, rdma map[string]specs.LinuxRdma) error {
	names := make([]string, 0, len(rdma))
	for k := range rdma {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		l := rdma[name]
		line := name
		if l.HcaHandles != nil {
			line += " hca_handle=" + strconv.FormatUint(uint64(*l.HcaHandles), 10)
		}
		if l.HcaObjects != nil {
			line += " hca_object=" + strconv.FormatUint(uint64(*l.HcaObjects), 10)
		}
		if line == name {
			continue
		}
		if err := writeFile(d, "rdma.max", line); err != nil {
			return err
		}
	}
	return nil
}
