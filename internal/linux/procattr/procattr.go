// Package procattr applies the per-process kernel attributes of an OCI
// process that are neither credentials nor limits: scheduler policy, I/O
// priority, CPU affinity, personality and NUMA memory policy. Each has a
// Validate (run before anything is created) and an apply step run by init
// on the container's thread.
package procattr

import (
	"fmt"
	"strconv"
	"strings"
	"unsafe"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
)

var schedPolicies = map[specs.LinuxSchedulerPolicy]uint32{
	specs.SchedOther: 0, specs.SchedFIFO: 1, specs.SchedRR: 2, specs.SchedBatch: 3,
	specs.SchedISO: 4, specs.SchedIdle: 5, specs.SchedDeadline: 6,
}

var schedFlags = map[specs.LinuxSchedulerFlag]uint64{
	specs.SchedFlagResetOnFork: 0x01, specs.SchedFlagReclaim: 0x02, specs.SchedFlagDLOverrun: 0x04,
	specs.SchedFlagKeepPolicy: 0x08, specs.SchedFlagKeepParams: 0x10,
	specs.SchedFlagUtilClampMin: 0x20, specs.SchedFlagUtilClampMax: 0x40,
}

var ioClasses = map[specs.IOPriorityClass]int{
	specs.IOPRIO_CLASS_RT: 1, specs.IOPRIO_CLASS_BE: 2, specs.IOPRIO_CLASS_IDLE: 3,
}

var mpolModes = map[specs.MemoryPolicyModeType]int{
	specs.MpolDefault: 0, specs.MpolPreferred: 1, specs.MpolBind: 2, specs.MpolInterleave: 3,
	specs.MpolLocal: 4, specs.MpolPreferredMany: 5, specs.MpolWeightedInterleave: 6,
}

var mpolFlags = map[specs.MemoryPolicyFlagType]int{
	specs.MpolFStaticNodes: 1 << 15, specs.MpolFRelativeNodes: 1 << 14, specs.MpolFNumaBalancing: 1 << 13,
}

func invalid(format string, args ...any) error { return errdefs.InvalidArgument(format, args...) }

// Validate checks the attributes of a process and of the container.
func Validate(p *specs.Process, l *specs.Linux) error {
	if p != nil {
		if s := p.Scheduler; s != nil {
			if _, ok := schedPolicies[s.Policy]; !ok {
				return invalid("process.scheduler.policy: unknown policy %q", s.Policy)
			}
			for i, f := range s.Flags {
				if _, ok := schedFlags[f]; !ok {
					return invalid("process.scheduler.flags[%d]: unknown flag %q", i, f)
				}
			}
			if s.Nice < -20 || s.Nice > 19 {
				return invalid("process.scheduler.nice: %d outside -20..19", s.Nice)
			}
		}
		if io := p.IOPriority; io != nil {
			if _, ok := ioClasses[io.Class]; !ok {
				return invalid("process.ioPriority.class: unknown class %q", io.Class)
			}
			if io.Priority < 0 || io.Priority > 7 {
				return invalid("process.ioPriority.priority: %d outside 0..7", io.Priority)
			}
		}
		if a := p.ExecCPUAffinity; a != nil {
			for field, v := range map[string]string{"initial": a.Initial, "final": a.Final} {
				if v == "" {
					continue
				}
				if _, err := ParseCPUList(v); err != nil {
					return invalid("process.execCPUAffinity.%s: %v", field, err)
				}
			}
		}
	}
	if l == nil {
		return nil
	}
	if pe := l.Personality; pe != nil && pe.Domain != specs.PerLinux && pe.Domain != specs.PerLinux32 {
		return invalid("linux.personality.domain: unknown domain %q", pe.Domain)
	}
	if mp := l.MemoryPolicy; mp != nil {
		if _, ok := mpolModes[mp.Mode]; !ok {
			return invalid("linux.memoryPolicy.mode: unknown mode %q", mp.Mode)
		}
		for i, f := range mp.Flags {
			if _, ok := mpolFlags[f]; !ok {
				return invalid("linux.memoryPolicy.flags[%d]: unknown flag %q", i, f)
			}
		}
		if mp.Nodes != "" {
			if _, err := ParseCPUList(mp.Nodes); err != nil {
				return invalid("linux.memoryPolicy.nodes: %v", err)
			}
		}
	}
	return nil
}

// ParseCPUList parses "0-3,5,7-8" into a sorted set of ids.
func ParseCPUList(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("invalid list %q", s)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("invalid range %q in %q", part, s)
			}
		}
		if b > 8191 {
			return nil, fmt.Errorf("id %d too large in %q", b, s)
		}
		for i := a; i <= b; i++ {
			out = append(out, i)
		}
	}
	return out, nil
}

// ApplyEarly runs first in init: the initial CPU affinity, the personality
// and the memory policy, which the rest of the setup should run under.
func ApplyEarly(p *specs.Process, l *specs.Linux) error {
	if p != nil && p.ExecCPUAffinity != nil && p.ExecCPUAffinity.Initial != "" {
		if err := setAffinity(p.ExecCPUAffinity.Initial); err != nil {
			return fmt.Errorf("process.execCPUAffinity.initial: %w", err)
		}
	}
	if l == nil {
		return nil
	}
	if pe := l.Personality; pe != nil {
		dom := uintptr(0x0000) // PER_LINUX
		if pe.Domain == specs.PerLinux32 {
			dom = 0x0008
		}
		if _, _, e := unix.RawSyscall(unix.SYS_PERSONALITY, dom, 0, 0); e != 0 {
			return fmt.Errorf("linux.personality: %w", e)
		}
	}
	if mp := l.MemoryPolicy; mp != nil {
		if err := setMempolicy(mp); err != nil {
			return fmt.Errorf("linux.memoryPolicy: %w", err)
		}
	}
	return nil
}

// ApplyLate runs just before exec: the I/O priority, the scheduler and the
// final CPU affinity (after all runtime work, so it binds only the process).
func ApplyLate(p *specs.Process) error {
	if io := p.IOPriority; io != nil {
		const whoProcess = 1
		prio := ioClasses[io.Class]<<13 | int(io.Priority)
		if _, _, e := unix.RawSyscall(unix.SYS_IOPRIO_SET, whoProcess, 0, uintptr(prio)); e != 0 {
			return fmt.Errorf("process.ioPriority: %w", e)
		}
	}
	if s := p.Scheduler; s != nil {
		if err := setScheduler(s); err != nil {
			return fmt.Errorf("process.scheduler: %w", err)
		}
	}
	if a := p.ExecCPUAffinity; a != nil && a.Final != "" {
		if err := setAffinity(a.Final); err != nil {
			return fmt.Errorf("process.execCPUAffinity.final: %w", err)
		}
	}
	return nil
}

func setAffinity(list string) error {
	ids, err := ParseCPUList(list)
	if err != nil {
		return err
	}
	var set unix.CPUSet
	for _, id := range ids {
		set.Set(id)
	}
	return unix.SchedSetaffinity(0, &set)
}

// schedAttr is struct sched_attr (SCHED_ATTR_SIZE_VER1).
type schedAttr struct {
	size     uint32
	policy   uint32
	flags    uint64
	nice     int32
	priority uint32
	runtime  uint64
	deadline uint64
	period   uint64
	utilMin  uint32
	utilMax  uint32
}

func setScheduler(s *specs.Scheduler) error {
	attr := schedAttr{
		policy: schedPolicies[s.Policy], nice: s.Nice, priority: uint32(s.Priority),
		runtime: s.Runtime, deadline: s.Deadline, period: s.Period,
	}
	attr.size = uint32(unsafe.Sizeof(attr))
	for _, f := range s.Flags {
		attr.flags |= schedFlags[f]
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SCHED_SETATTR, 0, uintptr(unsafe.Pointer(&attr)), 0); e != 0 {
		return e
	}
	return nil
}

func setMempolicy(mp *specs.LinuxMemoryPolicy) error {
	mode := mpolModes[mp.Mode]
	for _, f := range mp.Flags {
		mode |= mpolFlags[f]
	}
	var mask [128]uint64 // 8192 nodes
	maxnode := uintptr(0)
	if mp.Nodes != "" {
		ids, err := ParseCPUList(mp.Nodes)
		if err != nil {
			return err
		}
		for _, id := range ids {
			mask[id/64] |= 1 << (uint(id) % 64)
		}
		maxnode = uintptr(len(mask) * 64)
	}
	var ptr uintptr
	if maxnode > 0 {
		ptr = uintptr(unsafe.Pointer(&mask[0]))
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SET_MEMPOLICY, uintptr(mode), ptr, maxnode); e != 0 {
		return e
	}
	return nil
}
