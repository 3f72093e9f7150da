package specgen

import (
	"bytes"
	"encoding/json"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
)

// profile is a seccomp profile in Docker's format: the OCI fields plus
// archMap and per-rule conditions (capabilities, architectures, minimum
// kernel) that are settled when a container's spec is made.
type profile struct {
	DefaultAction    specs.LinuxSeccompAction `json:"defaultAction"`
	DefaultErrnoRet  *uint                    `json:"defaultErrnoRet,omitempty"`
	Architectures    []specs.Arch             `json:"architectures,omitempty"`
	ArchMap          []archMapping            `json:"archMap,omitempty"`
	ListenerPath     string                   `json:"listenerPath,omitempty"`
	ListenerMetadata string                   `json:"listenerMetadata,omitempty"`
	Flags            []specs.LinuxSeccompFlag `json:"flags,omitempty"`
	Syscalls         []profileRule            `json:"syscalls"`
}

type archMapping struct {
	Arch      specs.Arch   `json:"architecture"`
	SubArches []specs.Arch `json:"subArchitectures"`
}

type profileRule struct {
	Name     string                   `json:"name,omitempty"` // older profiles: one name per rule
	Names    []string                 `json:"names,omitempty"`
	Action   specs.LinuxSeccompAction `json:"action"`
	ErrnoRet *uint                    `json:"errnoRet,omitempty"`
	Args     []specs.LinuxSeccompArg  `json:"args,omitempty"`
	Comment  string                   `json:"comment,omitempty"`
	Includes *ruleFilter              `json:"includes,omitempty"`
	Excludes *ruleFilter              `json:"excludes,omitempty"`
}

// ruleFilter: a rule with Includes applies only when the container has every
// listed capability, runs on one of the listed architectures (Go names:
// "amd64", "arm64", ...) and the kernel is at least MinKernel ("4.8"); a
// rule with Excludes does not apply when any of its conditions holds.
type ruleFilter struct {
	Caps      []string `json:"caps,omitempty"`
	Arches    []string `json:"arches,omitempty"`
	MinKernel string   `json:"minKernel,omitempty"`
}

// DefaultSeccomp is the default profile for a container with Docker's
// default capabilities on this machine's architecture and kernel. Generate
// adapts the same profile to each container's final capabilities.
func DefaultSeccomp() *specs.LinuxSeccomp {
	s, err := defaultProfile().resolve(DefaultCapabilities(), nativeArch(), kernelVersion())
	if err != nil {
		panic("specgen: default seccomp profile: " + err.Error()) // tested
	}
	return s
}

// ParseSeccompProfile reads a profile in Docker's JSON format and settles
// its conditions for Docker's default capabilities on this machine, as
// DefaultSeccomp does. (A profile named by --security-opt seccomp= is
// settled for the container's own capabilities instead.)
func ParseSeccompProfile(b []byte) (*specs.LinuxSeccomp, error) {
	p, err := parseProfile(b)
	if err != nil {
		return nil, err
	}
	return p.resolve(DefaultCapabilities(), nativeArch(), kernelVersion())
}

var validActions = map[specs.LinuxSeccompAction]bool{
	specs.ActKill: true, specs.ActKillProcess: true, specs.ActKillThread: true, specs.ActTrap: true,
	specs.ActErrno: true, specs.ActTrace: true, specs.ActAllow: true, specs.ActLog: true, specs.ActNotify: true,
}

var validOps = map[specs.LinuxSeccompOperator]bool{
	specs.OpNotEqual: true, specs.OpLessThan: true, specs.OpLessEqual: true, specs.OpEqualTo: true,
	specs.OpGreaterEqual: true, specs.OpGreaterThan: true, specs.OpMaskedEqual: true,
}

var validArches = map[specs.Arch]bool{
	specs.ArchX86: true, specs.ArchX86_64: true, specs.ArchX32: true, specs.ArchARM: true,
	specs.ArchAARCH64: true, specs.ArchMIPS: true, specs.ArchMIPS64: true, specs.ArchMIPS64N32: true,
	specs.ArchMIPSEL: true, specs.ArchMIPSEL64: true, specs.ArchMIPSEL64N32: true, specs.ArchPPC: true,
	specs.ArchPPC64: true, specs.ArchPPC64LE: true, specs.ArchS390: true, specs.ArchS390X: true,
	specs.ArchPARISC: true, specs.ArchPARISC64: true, specs.ArchRISCV64: true,
	specs.ArchLOONGARCH64: true, specs.ArchM68K: true, specs.ArchSH: true, specs.ArchSHEB: true,
}

var validFlags = map[specs.LinuxSeccompFlag]bool{
	specs.LinuxSeccompFlagLog: true, specs.LinuxSeccompFlagSpecAllow: true,
	specs.LinuxSeccompFlagWaitKillableRecv: true, "SECCOMP_FILTER_FLAG_TSYNC": true,
}

var syscallNameRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

func invalidProfile(format string, args ...any) error {
	return errdefs.InvalidArgument("seccomp profile: "+format, args...)
}

// parseProfile decodes and checks a Docker-format profile. Unknown fields
// are ignored, as Docker does; wrong values are errors.
func parseProfile(b []byte) (*profile, error) {
	if len(b) > maxProfileSize {
		return nil, invalidProfile("larger than %d bytes", maxProfileSize)
	}
	var p profile
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&p); err != nil {
		return nil, invalidProfile("decode: %v", err)
	}
	if dec.More() {
		return nil, invalidProfile("trailing data after the profile")
	}
	if err := p.check(); err != nil {
		return nil, err
	}
	return &p, nil
}

func (p *profile) check() error {
	if p.DefaultAction == "" {
		return invalidProfile("defaultAction is required")
	}
	if !validActions[p.DefaultAction] {
		return invalidProfile("defaultAction: unknown action %q", p.DefaultAction)
	}
	if p.DefaultAction == specs.ActNotify {
		return invalidProfile("defaultAction: %s cannot be the default", specs.ActNotify)
	}
	if len(p.Architectures) > 0 && len(p.ArchMap) > 0 {
		return invalidProfile("both 'architectures' and 'archMap' are specified, use either 'architectures' or 'archMap'")
	}
	for _, a := range p.Architectures {
		if !validArches[a] {
			return invalidProfile("architectures: unknown architecture %q", a)
		}
	}
	for i, m := range p.ArchMap {
		if !validArches[m.Arch] {
			return invalidProfile("archMap[%d].architecture: unknown architecture %q", i, m.Arch)
		}
		for _, a := range m.SubArches {
			if !validArches[a] {
				return invalidProfile("archMap[%d].subArchitectures: unknown architecture %q", i, a)
			}
		}
	}
	for _, f := range p.Flags {
		if !validFlags[f] {
			return invalidProfile("flags: unknown flag %q", f)
		}
	}
	for i, r := range p.Syscalls {
		if r.Name != "" && len(r.Names) > 0 {
			return invalidProfile("syscalls[%d]: 'name' and 'names' were both specified, use either 'name' or 'names'", i)
		}
		names := r.Names
		if r.Name != "" {
			names = []string{r.Name}
		}
		if len(names) == 0 {
			return invalidProfile("syscalls[%d]: no syscall names", i)
		}
		for _, n := range names {
			if len(n) > 64 || !syscallNameRE.MatchString(n) {
				return invalidProfile("syscalls[%d]: invalid syscall name %q", i, n)
			}
		}
		if !validActions[r.Action] {
			return invalidProfile("syscalls[%d].action: unknown action %q", i, r.Action)
		}
		if r.Action == specs.ActNotify && p.ListenerPath == "" {
			return invalidProfile("syscalls[%d].action: %s needs listenerPath", i, specs.ActNotify)
		}
		if r.ErrnoRet != nil && r.Action != specs.ActErrno && r.Action != specs.ActTrace {
			return invalidProfile("syscalls[%d].errnoRet: only meaningful with %s or %s", i, specs.ActErrno, specs.ActTrace)
		}
		if len(r.Args) > 6 {
			return invalidProfile("syscalls[%d].args: more than 6 conditions", i)
		}
		for j, a := range r.Args {
			if a.Index > 5 {
				return invalidProfile("syscalls[%d].args[%d].index: %d is not a syscall argument (0-5)", i, j, a.Index)
			}
			if !validOps[a.Op] {
				return invalidProfile("syscalls[%d].args[%d].op: unknown operator %q", i, j, a.Op)
			}
		}
		for _, f := range []*ruleFilter{r.Includes, r.Excludes} {
			if f == nil {
				continue
			}
			if _, err := normalizeCaps(f.Caps); err != nil {
				return invalidProfile("syscalls[%d]: %v", i, err)
			}
			if f.MinKernel != "" {
				if _, err := parseKernel(f.MinKernel); err != nil {
					return invalidProfile("syscalls[%d]: %v", i, err)
				}
			}
		}
	}
	if p.DefaultErrnoRet != nil && p.DefaultAction != specs.ActErrno && p.DefaultAction != specs.ActTrace {
		return invalidProfile("defaultErrnoRet: only meaningful with %s or %s", specs.ActErrno, specs.ActTrace)
	}
	return nil
}

// resolve settles the profile for a container with capability set caps on
// architecture arch (a GOARCH name) and kernel k: it keeps the archMap entry
// of the native architecture and the rules whose conditions hold.
func (p *profile) resolve(caps []string, arch string, k kver) (*specs.LinuxSeccomp, error) {
	have, err := normalizeCaps(caps)
	if err != nil {
		return nil, err
	}
	out := &specs.LinuxSeccomp{
		DefaultAction:    p.DefaultAction,
		DefaultErrnoRet:  copyUint(p.DefaultErrnoRet),
		Architectures:    slices.Clone(p.Architectures),
		ListenerPath:     p.ListenerPath,
		ListenerMetadata: p.ListenerMetadata,
		Flags:            slices.Clone(p.Flags),
	}
	if native, ok := seccompArches[arch]; ok {
		for _, m := range p.ArchMap {
			if m.Arch == native {
				out.Architectures = append(out.Architectures, m.Arch)
				out.Architectures = append(out.Architectures, m.SubArches...)
			}
		}
	}
	for _, r := range p.Syscalls {
		if !r.applies(have, arch, k) {
			continue
		}
		names := r.Names
		if r.Name != "" {
			names = []string{r.Name}
		}
		out.Syscalls = append(out.Syscalls, specs.LinuxSyscall{
			Names:    slices.Clone(names),
			Action:   r.Action,
			ErrnoRet: copyUint(r.ErrnoRet),
			Args:     slices.Clone(r.Args),
		})
	}
	return out, nil
}

func (r profileRule) applies(caps []string, arch string, k kver) bool {
	if in := r.Includes; in != nil {
		for _, c := range mustNormalize(in.Caps) {
			if !slices.Contains(caps, c) {
				return false
			}
		}
		if len(in.Arches) > 0 && !slices.Contains(in.Arches, arch) {
			return false
		}
		if in.MinKernel != "" {
			if min, err := parseKernel(in.MinKernel); err != nil || !k.atLeast(min) {
				return false
			}
		}
	}
	if ex := r.Excludes; ex != nil {
		for _, c := range mustNormalize(ex.Caps) {
			if slices.Contains(caps, c) {
				return false
			}
		}
		if slices.Contains(ex.Arches, arch) {
			return false
		}
		if ex.MinKernel != "" {
			if min, err := parseKernel(ex.MinKernel); err == nil && k.atLeast(min) {
				return false
			}
		}
	}
	return true
}

// mustNormalize normalizes names check() already accepted.
func mustNormalize(list []string) []string {
	out, _ := normalizeCaps(list)
	return out
}

func copyUint(p *uint) *uint {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// seccompArches maps GOARCH names to the seccomp name of the native
// architecture.
var seccompArches = map[string]specs.Arch{
	"386": specs.ArchX86, "amd64": specs.ArchX86_64, "arm": specs.ArchARM, "arm64": specs.ArchAARCH64,
	"mips": specs.ArchMIPS, "mipsle": specs.ArchMIPSEL, "mips64": specs.ArchMIPS64,
	"mips64le": specs.ArchMIPSEL64, "ppc64": specs.ArchPPC64, "ppc64le": specs.ArchPPC64LE,
	"riscv64": specs.ArchRISCV64, "s390x": specs.ArchS390X, "loong64": specs.ArchLOONGARCH64,
}

func nativeArch() string { return runtime.GOARCH }

// kver is a kernel version, major and minor.
type kver struct{ major, minor int }

func (k kver) atLeast(o kver) bool {
	return k.major > o.major || (k.major == o.major && k.minor >= o.minor)
}

// parseKernel reads "5.10", "4.8.0" or "6.1.0-13-amd64".
func parseKernel(s string) (kver, error) {
	bad := errdefs.InvalidArgument("invalid kernel version %q", s)
	majorS, rest, ok := strings.Cut(s, ".")
	if !ok {
		return kver{}, bad
	}
	end := 0
	for end < len(rest) && rest[end] >= '0' && rest[end] <= '9' {
		end++
	}
	major, err1 := strconv.Atoi(majorS)
	minor, err2 := strconv.Atoi(rest[:end])
	if err1 != nil || err2 != nil || major < 0 || minor < 0 || major > 1000 || minor > 1000 {
		return kver{}, bad
	}
	return kver{major, minor}, nil
}

// kernelVersion is the running kernel's version; a variable for tests.
var kernelVersion = sync.OnceValue(func() kver {
	var u unix.Utsname
	if err := unix.Uname(&u); err == nil {
		if k, err := parseKernel(unix.ByteSliceToString(u.Release[:])); err == nil {
			return k
		}
	}
	// Unknown: assume a current kernel rather than denying what it allows.
	return kver{6, 0}
})
