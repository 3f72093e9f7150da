package specgen

import (
	"runtime"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/errdefs"
)

// Docker's limits on resource values.
const (
	minMemory    = 6 << 20 // the smallest memory limit or reservation
	cfsPeriod    = 100000  // µs; the period --cpus uses
	minCFSQuota  = 1000    // µs
	minCFSPeriod = 1000
	maxCFSPeriod = 1000000
	minShares    = 2
	maxShares    = 262144
	maxCpusetID  = 1 << 16
)

// numCPU is the host's CPU count, the ceiling of --cpus; a variable for tests.
var numCPU = runtime.NumCPU

func ptr[T any](v T) *T { return &v }

// resources fills memory, CPU, pids and block I/O limits with Docker's
// rules and checks.
func resources(r *specs.LinuxResources, o Options) error {
	if err := memory(r, o); err != nil {
		return err
	}
	if err := cpu(r, o); err != nil {
		return err
	}
	if o.PidsLimit > 0 {
		r.Pids = &specs.LinuxPids{Limit: ptr(o.PidsLimit)}
	}
	if o.BlkioWeight != 0 {
		if o.BlkioWeight < 10 || o.BlkioWeight > 1000 {
			return errdefs.InvalidArgument("range of blkio weight is from 10 to 1000, not %d", o.BlkioWeight)
		}
		r.BlockIO = &specs.LinuxBlockIO{Weight: ptr(o.BlkioWeight)}
	}
	return nil
}

// memory applies --memory, --memory-swap and --memory-reservation. Swap is
// the total of memory and swap: unset means twice the memory, -1 unlimited.
func memory(r *specs.LinuxResources, o Options) error {
	mem, swap, res := o.Memory, o.MemorySwap, o.MemoryReservation
	switch {
	case mem < 0:
		return errdefs.InvalidArgument("invalid memory limit %d: it can not be negative", mem)
	case mem > 0 && mem < minMemory:
		return errdefs.InvalidArgument("minimum memory limit allowed is 6MB")
	case swap < -1:
		return errdefs.InvalidArgument("invalid memory swap limit %d", swap)
	case swap > 0 && mem == 0:
		return errdefs.InvalidArgument("you should always set the memory limit when using the memory swap limit")
	case swap > 0 && swap < mem:
		return errdefs.InvalidArgument("minimum memory swap limit should be larger than the memory limit")
	case res < 0:
		return errdefs.InvalidArgument("invalid memory reservation %d: it can not be negative", res)
	case res > 0 && res < minMemory:
		return errdefs.InvalidArgument("minimum memory reservation allowed is 6MB")
	case mem > 0 && res > mem:
		return errdefs.InvalidArgument("minimum memory limit can not be less than memory reservation limit")
	}
	if mem == 0 && res == 0 {
		return nil
	}
	m := &specs.LinuxMemory{}
	if mem > 0 {
		m.Limit = ptr(mem)
		switch {
		case swap == 0:
			if mem > (1<<63-1)/2 {
				return errdefs.InvalidArgument("memory limit %d is too large", mem)
			}
			m.Swap = ptr(2 * mem)
		default:
			m.Swap = ptr(swap)
		}
	}
	if res > 0 {
		m.Reservation = ptr(res)
	}
	r.Memory = m
	return nil
}

// cpu applies --cpus (as a quota over a 100ms period), --cpu-shares,
// --cpu-quota, --cpu-period and the cpusets.
func cpu(r *specs.LinuxResources, o Options) error {
	c := &specs.LinuxCPU{}
	set := false
	if o.NanoCPUs != 0 {
		if o.CPUQuota != 0 {
			return errdefs.InvalidArgument("conflicting options: Nano CPUs and CPU Quota cannot both be set")
		}
		if o.CPUPeriod != 0 {
			return errdefs.InvalidArgument("conflicting options: Nano CPUs and CPU Period cannot both be set")
		}
		n := numCPU()
		if o.NanoCPUs < 1e7 || o.NanoCPUs > int64(n)*1e9 {
			return errdefs.InvalidArgument("range of CPUs is from 0.01 to %d.00, as there are only %d CPUs available", n, n)
		}
		c.Period = ptr(uint64(cfsPeriod))
		c.Quota = ptr(o.NanoCPUs * cfsPeriod / 1e9)
		set = true
	}
	if o.CPUPeriod != 0 {
		if o.CPUPeriod < minCFSPeriod || o.CPUPeriod > maxCFSPeriod {
			return errdefs.InvalidArgument("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
		}
		c.Period = ptr(uint64(o.CPUPeriod))
		set = true
	}
	if o.CPUQuota != 0 {
		if o.CPUQuota != -1 && o.CPUQuota < minCFSQuota {
			return errdefs.InvalidArgument("CPU cfs quota can not be less than 1ms (i.e. 1000)")
		}
		c.Quota = ptr(o.CPUQuota)
		set = true
	}
	if o.CPUShares != 0 {
		if o.CPUShares < 0 {
			return errdefs.InvalidArgument("invalid CPU shares %d: it can not be negative", o.CPUShares)
		}
		// The kernel clamps shares to this range; say so in the spec.
		s := min(max(o.CPUShares, minShares), maxShares)
		c.Shares = ptr(uint64(s))
		set = true
	}
	if o.CpusetCpus != "" {
		if err := checkCpuset(o.CpusetCpus); err != nil {
			return errdefs.InvalidArgument("invalid value %q for cpuset cpus: %v", o.CpusetCpus, err)
		}
		c.Cpus = o.CpusetCpus
		set = true
	}
	if o.CpusetMems != "" {
		if err := checkCpuset(o.CpusetMems); err != nil {
			return errdefs.InvalidArgument("invalid value %q for cpuset mems: %v", o.CpusetMems, err)
		}
		c.Mems = o.CpusetMems
		set = true
	}
	if set {
		r.CPU = c
	}
	return nil
}

// checkCpuset checks list syntax: "0-3,5,7-8".
func checkCpuset(s string) error {
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := cpusetNumber(lo)
		if err != nil {
			return err
		}
		if !isRange {
			continue
		}
		b, err := cpusetNumber(hi)
		if err != nil {
			return err
		}
		if a > b {
			return errdefs.InvalidArgument("range %q runs backwards", part)
		}
	}
	return nil
}

func cpusetNumber(s string) (int, error) {
	if s == "" || len(s) > 6 {
		return 0, errdefs.InvalidArgument("%q is not a number", s)
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, errdefs.InvalidArgument("%q is not a number", s)
		}
	}
	n, _ := strconv.Atoi(s)
	if n >= maxCpusetID {
		return 0, errdefs.InvalidArgument("%d is too large", n)
	}
	return n, nil
}
