//go:build linux && cgo

package seccomp

import (
	"fmt"

	"github.com/berth-dev/berth/internal/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

const (
	// maxArgIndex is the last syscall argument seccomp can inspect.
	maxArgIndex = 5
	// maxErrno is the largest value SECCOMP_RET_DATA can carry.
	maxErrno = 0xffff
	// maxAlternatives bounds how many rules one syscalls[] entry may expand
	// into when it has several conditions on the same argument.
	maxAlternatives = 256
)

// program is a checked profile in libseccomp terms: what build needs and
// nothing else.
type program struct {
	defaultAction libseccomp.ScmpAction
	arches        []libseccomp.ScmpArch
	flags         uint // SECCOMP_FILTER_FLAG_* requested by the profile
	notify        bool // some rule uses SCMP_ACT_NOTIFY
	rules         []rule
}

// rule is one syscall with one action; conds lists alternatives, each of
// which is a set of ANDed conditions. No alternatives means unconditional.
type rule struct {
	call   libseccomp.ScmpSyscall
	action libseccomp.ScmpAction
	conds  [][]libseccomp.ScmpCondition
	// where the rule came from, for error messages
	entry, index int // linux.seccomp.syscalls[entry].names[index]
	name         string
}

// Validate checks a profile without loading it, so `create` fails before
// anything is made. A nil profile is valid (no seccomp). Errors are
// errdefs.InvalidArgument and name the offending field, for example
// `linux.seccomp.syscalls[3].names[0]: unknown syscall "foo"`. Validate also
// rejects actions and flags this kernel does not support.
func Validate(s *specs.LinuxSeccomp) error {
	_, err := compile(s)
	return err
}

func invalid(format string, args ...any) error {
	return errdefs.InvalidArgument("linux.seccomp"+format, args...)
}

// compile checks s and converts it; it is the single place both Validate and
// Load go through.
func compile(s *specs.LinuxSeccomp) (*program, error) {
	if s == nil {
		return nil, nil
	}
	if !Enabled() {
		return nil, invalid(": seccomp filters are not supported by this kernel")
	}
	p := &program{}

	def, ok := lookupAction(s.DefaultAction)
	if !ok {
		return nil, invalid(".defaultAction: unknown action %q", s.DefaultAction)
	}
	if def.name == specs.ActNotify {
		return nil, invalid(".defaultAction: %s cannot be the default action (the runtime itself would block on its own syscalls)", specs.ActNotify)
	}
	if !kernelHasAction(def.kernelRet) {
		return nil, invalid(".defaultAction: %s is not supported by this kernel", def.name)
	}
	var err error
	if p.defaultAction, err = withErrno(def, s.DefaultErrnoRet); err != nil {
		return nil, invalid(".defaultErrnoRet: %v", err)
	}

	p.arches = make([]libseccomp.ScmpArch, 0, len(s.Architectures))
	for i, name := range s.Architectures {
		arch, ok := lookupArch(name)
		if !ok {
			return nil, invalid(".architectures[%d]: unknown architecture %q", i, name)
		}
		if libraryHasArch(arch) {
			p.arches = append(p.arches, arch)
		}
	}

	for i, name := range s.Flags {
		bit, ok := lookupFlag(name)
		if !ok {
			return nil, invalid(".flags[%d]: unknown flag %q", i, name)
		}
		if supportedFlagBits()&bit == 0 {
			return nil, invalid(".flags[%d]: %s is not supported by this kernel", i, name)
		}
		p.flags |= bit
	}

	if s.ListenerMetadata != "" && s.ListenerPath == "" {
		return nil, invalid(".listenerMetadata: set without listenerPath")
	}

	n := 0
	for _, sc := range s.Syscalls {
		n += len(sc.Names)
	}
	p.rules = make([]rule, 0, n)
	for i := range s.Syscalls {
		if err := p.addEntry(s, i, def); err != nil {
			return nil, err
		}
	}
	// With a listener, TSYNC needs TSYNC_ESRCH (Linux 5.7) so that the
	// return value can carry the fd.
	const withListener = unix.SECCOMP_FILTER_FLAG_TSYNC | unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH | unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
	if p.notify && p.flags&unix.SECCOMP_FILTER_FLAG_TSYNC != 0 && !probeFlag(withListener) {
		return nil, invalid(".flags: this kernel cannot combine %s with %s", flagTSYNC, specs.ActNotify)
	}
	return p, nil
}

// addEntry checks syscalls[i] and appends its rules.
func (p *program) addEntry(s *specs.LinuxSeccomp, i int, def actionEntry) error {
	sc := &s.Syscalls[i]
	act, ok := lookupAction(sc.Action)
	if !ok {
		return invalid(".syscalls[%d].action: unknown action %q", i, sc.Action)
	}
	if act.name == specs.ActNotify && s.ListenerPath == "" {
		return invalid(".syscalls[%d].action: %s requires linux.seccomp.listenerPath", i, act.name)
	}
	if !kernelHasAction(act.kernelRet) {
		return invalid(".syscalls[%d].action: %s is not supported by this kernel", i, act.name)
	}
	action, err := withErrno(act, sc.ErrnoRet)
	if err != nil {
		return invalid(".syscalls[%d].errnoRet: %v", i, err)
	}
	if len(sc.Names) == 0 {
		return invalid(".syscalls[%d].names: must list at least one syscall", i)
	}
	conds, err := splitConditions(sc.Args)
	if err != nil {
		return invalid(".syscalls[%d].args%v", i, err)
	}
	// A rule that repeats the default action changes nothing (and libseccomp
	// refuses it), so its names are only checked.
	skip := action == p.defaultAction
	if act.name == specs.ActNotify && !skip {
		p.notify = true
	}
	for j, name := range sc.Names {
		call, ok := resolveSyscall(name)
		if !ok {
			if !newerSyscalls[name] {
				return invalid(".syscalls[%d].names[%d]: unknown syscall %q", i, j, name)
			}
			// libseccomp cannot name it, so it cannot be filtered: the
			// default action applies. Refuse when that would allow a
			// syscall the profile means to stop.
			if def.permissive && !act.permissive {
				major, minor, micro := libseccomp.GetLibraryVersion()
				return invalid(".syscalls[%d].names[%d]: syscall %q is unknown to libseccomp %d.%d.%d, so it cannot be given %s and the default action %s would allow it",
					i, j, name, major, minor, micro, act.name, def.name)
			}
			continue
		}
		if skip {
			continue
		}
		p.rules = append(p.rules, rule{call: call, action: action, conds: conds, entry: i, index: j, name: name})
	}
	return nil
}

// withErrno applies an errnoRet to an action, defaulting to EPERM for the
// actions that carry one, and refusing it for the others.
func withErrno(a actionEntry, ret *uint) (libseccomp.ScmpAction, error) {
	if !a.takesErrno {
		if ret != nil {
			return 0, fmt.Errorf("only %s and %s take an errno, not %s", specs.ActErrno, specs.ActTrace, a.name)
		}
		return a.act, nil
	}
	code := uint(unix.EPERM)
	if ret != nil {
		code = *ret
	}
	if code > maxErrno {
		return 0, fmt.Errorf("%d is out of range (0-%d)", code, maxErrno)
	}
	return a.act.SetReturnCode(int16(uint16(code))), nil
}

// splitConditions converts OCI args into alternatives: conditions on
// different indexes are ANDed, conditions sharing an index are ORed, so the
// result is every combination picking one condition per index. Errors start
// with the field suffix ("[j].op: ...").
func splitConditions(args []specs.LinuxSeccompArg) ([][]libseccomp.ScmpCondition, error) {
	if len(args) == 0 {
		return nil, nil
	}
	var groups [maxArgIndex + 1][]libseccomp.ScmpCondition
	var order []uint // indexes in order of first appearance
	for j, a := range args {
		if a.Index > maxArgIndex {
			return nil, fmt.Errorf("[%d].index: %d is out of range (0-%d)", j, a.Index, maxArgIndex)
		}
		op, ok := lookupOperator(a.Op)
		if !ok {
			return nil, fmt.Errorf("[%d].op: unknown operator %q", j, a.Op)
		}
		if groups[a.Index] == nil {
			order = append(order, a.Index)
		}
		groups[a.Index] = append(groups[a.Index], libseccomp.ScmpCondition{
			Argument: a.Index, Op: op, Operand1: a.Value, Operand2: a.ValueTwo,
		})
	}
	total := 1
	for _, idx := range order {
		total *= len(groups[idx])
		if total > maxAlternatives {
			return nil, fmt.Errorf(": conditions on the same argument expand to more than %d rules", maxAlternatives)
		}
	}
	out := make([][]libseccomp.ScmpCondition, 1, total)
	out[0] = make([]libseccomp.ScmpCondition, 0, len(order))
	for _, idx := range order {
		g := groups[idx]
		next := make([][]libseccomp.ScmpCondition, 0, len(out)*len(g))
		for _, prefix := range out {
			for _, c := range g {
				alt := make([]libseccomp.ScmpCondition, len(prefix), len(order))
				copy(alt, prefix)
				next = append(next, append(alt, c))
			}
		}
		out = next
	}
	return out, nil
}
