package cgroups

import (
	"math"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/errdefs"
)

// Validate rejects resource values no kernel would take, before anything is
// created. Errors are errdefs.ErrInvalidArgument and name the field
// ("linux.resources.cpu.cpus: invalid cpuset \"x-\""). It needs no host access.
func Validate(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	for _, check := range [...]func(*specs.LinuxResources) error{
		validateMemory, validateCPU, validateBlockIO, validateHugepages, validateDevices, validateUnified,
	} {
		if err := check(r); err != nil {
			return err
		}
	}
	return nil
}

func bad(field, format string, args ...any) error {
	return errdefs.InvalidArgument("linux.resources."+field+": "+format, args...)
}

func validateMemory(r *specs.LinuxResources) error {
	m := r.Memory
	if m == nil {
		return nil
	}
	for _, f := range [...]struct {
		name string
		v    *int64
	}{{"limit", m.Limit}, {"reservation", m.Reservation}, {"swap", m.Swap}} {
		if f.v != nil && *f.v < -1 {
			return bad("memory."+f.name, "%d is negative (use -1 for unlimited)", *f.v)
		}
	}
	if m.Limit != nil && *m.Limit > 0 && m.Swap != nil && *m.Swap > 0 && *m.Swap < *m.Limit {
		return bad("memory.swap", "%d is below memory.limit %d (swap counts memory plus swap)", *m.Swap, *m.Limit)
	}
	if m.Swappiness != nil && *m.Swappiness > 100 {
		return bad("memory.swappiness", "%d is out of range 0-100", *m.Swappiness)
	}
	return nil
}

func validateCPU(r *specs.LinuxResources) error {
	c := r.CPU
	if c == nil {
		return nil
	}
	if c.Shares != nil && *c.Shares > math.MaxInt64 {
		return bad("cpu.shares", "%d is negative", int64(*c.Shares))
	}
	if c.Quota != nil && *c.Quota < -1 {
		return bad("cpu.quota", "%d is negative (use -1 for unlimited)", *c.Quota)
	}
	if c.Quota != nil && *c.Quota > 0 && *c.Quota < 1000 {
		return bad("cpu.quota", "%d is below the kernel minimum of 1000 µs", *c.Quota)
	}
	if c.Period != nil && *c.Period != 0 && (*c.Period < 1000 || *c.Period > 1000000) {
		return bad("cpu.period", "%d is out of range 1000-1000000 µs", *c.Period)
	}
	if c.Burst != nil && *c.Burst > 0 && c.Quota != nil && *c.Quota > 0 && *c.Burst > uint64(*c.Quota) {
		return bad("cpu.burst", "%d is above cpu.quota %d", *c.Burst, *c.Quota)
	}
	if c.RealtimeRuntime != nil && *c.RealtimeRuntime < -1 {
		return bad("cpu.realtimeRuntime", "%d is negative (use -1 for unlimited)", *c.RealtimeRuntime)
	}
	if c.RealtimeRuntime != nil && c.RealtimePeriod != nil && *c.RealtimePeriod > 0 && *c.RealtimeRuntime > int64(*c.RealtimePeriod) {
		return bad("cpu.realtimeRuntime", "%d is above cpu.realtimePeriod %d", *c.RealtimeRuntime, *c.RealtimePeriod)
	}
	if c.Idle != nil && *c.Idle != 0 && *c.Idle != 1 {
		return bad("cpu.idle", "%d is not 0 or 1", *c.Idle)
	}
	if !validCPUList(c.Cpus) {
		return bad("cpu.cpus", "invalid cpuset %q", c.Cpus)
	}
	if !validCPUList(c.Mems) {
		return bad("cpu.mems", "invalid cpuset %q", c.Mems)
	}
	return nil
}

// validCPUList accepts "", "3", "0-3", "0-3,6,8-9" (kernel list syntax).
func validCPUList(s string) bool {
	if s == "" {
		return true
	}
	for _, part := range strings.Split(strings.TrimSpace(s), ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseUint(lo, 10, 32)
		if err != nil {
			return false
		}
		if isRange {
			b, err := strconv.ParseUint(hi, 10, 32)
			if err != nil || b < a {
				return false
			}
		}
	}
	return true
}

func validateBlockIO(r *specs.LinuxResources) error {
	b := r.BlockIO
	if b == nil {
		return nil
	}
	weight := func(field string, w *uint16) error {
		if w != nil && *w != 0 && (*w < 10 || *w > 1000) {
			return bad(field, "%d is out of range 10-1000", *w)
		}
		return nil
	}
	if err := weight("blockIO.weight", b.Weight); err != nil {
		return err
	}
	if err := weight("blockIO.leafWeight", b.LeafWeight); err != nil {
		return err
	}
	dev := func(field string, d specs.LinuxBlockIODevice) error {
		if d.Major < 0 || d.Minor < 0 {
			return bad(field, "invalid device %d:%d", d.Major, d.Minor)
		}
		return nil
	}
	for i, wd := range b.WeightDevice {
		f := "blockIO.weightDevice[" + strconv.Itoa(i) + "]"
		if err := dev(f, wd.LinuxBlockIODevice); err != nil {
			return err
		}
		if err := weight(f+".weight", wd.Weight); err != nil {
			return err
		}
		if err := weight(f+".leafWeight", wd.LeafWeight); err != nil {
			return err
		}
	}
	for _, t := range [...]struct {
		name string
		devs []specs.LinuxThrottleDevice
	}{
		{"throttleReadBpsDevice", b.ThrottleReadBpsDevice}, {"throttleWriteBpsDevice", b.ThrottleWriteBpsDevice},
		{"throttleReadIOPSDevice", b.ThrottleReadIOPSDevice}, {"throttleWriteIOPSDevice", b.ThrottleWriteIOPSDevice},
	} {
		for i, d := range t.devs {
			if err := dev("blockIO."+t.name+"["+strconv.Itoa(i)+"]", d.LinuxBlockIODevice); err != nil {
				return err
			}
		}
	}
	return nil
}

// validateHugepages checks page sizes look like "2MB", "1GB", "64KB".
func validateHugepages(r *specs.LinuxResources) error {
	for i, l := range r.HugepageLimits {
		s := l.Pagesize
		n := strings.TrimRight(s, "KMGTB")
		unit := s[len(n):]
		if _, err := strconv.ParseUint(n, 10, 32); err != nil || n == "" ||
			(unit != "KB" && unit != "MB" && unit != "GB" && unit != "TB") {
			return bad("hugepageLimits["+strconv.Itoa(i)+"].pageSize", "invalid page size %q (want e.g. 2MB)", s)
		}
	}
	return nil
}

func validateDevices(r *specs.LinuxResources) error {
	for i, d := range r.Devices {
		f := "devices[" + strconv.Itoa(i) + "]"
		switch d.Type {
		case "", "a", "b", "c":
		default:
			return bad(f+".type", "%q is not one of a, b, c", d.Type)
		}
		if strings.Trim(d.Access, "rwm") != "" {
			return bad(f+".access", "%q is not a subset of rwm", d.Access)
		}
		if d.Major != nil && *d.Major < -1 {
			return bad(f+".major", "%d is invalid", *d.Major)
		}
		if d.Minor != nil && *d.Minor < -1 {
			return bad(f+".minor", "%d is invalid", *d.Minor)
		}
		if d.Major != nil && *d.Major > math.MaxInt32 || d.Minor != nil && *d.Minor > math.MaxInt32 {
			return bad(f, "device number out of range")
		}
	}
	return nil
}

// validateUnified allows only plain file names of the cgroup directory and
// not the files that move processes or change delegation.
func validateUnified(r *specs.LinuxResources) error {
	for k := range r.Unified {
		if k == "" || k == "." || k == ".." || strings.ContainsAny(k, "/\x00") || !strings.Contains(k, ".") {
			return bad("unified", "%q is not a cgroup file name", k)
		}
		switch k {
		case "cgroup.procs", "cgroup.threads", "cgroup.subtree_control", "cgroup.type", "cgroup.kill":
			return bad("unified", "%q may not be set", k)
		}
	}
	return nil
}
