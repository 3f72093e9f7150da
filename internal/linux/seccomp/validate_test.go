//go:build linux && cgo

package seccomp

import (
	"reflect"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

func simpleProfile() *specs.LinuxSeccomp {
	return &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"getcwd", "mkdir"}, Action: specs.ActErrno},
			{Names: []string{"personality"}, Action: specs.ActErrno, ErrnoRet: ptr(uint(1)),
				Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0xffffffff, Op: specs.OpEqualTo}}},
		},
	}
}

func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*specs.LinuxSeccomp)
	}{
		{"simple", func(*specs.LinuxSeccomp) {}},
		{"default-like", func(s *specs.LinuxSeccomp) { *s = *defaultLikeProfile(uint(unix.EPERM)) }},
		{"every action", func(s *specs.LinuxSeccomp) {
			s.DefaultAction = specs.ActErrno
			s.ListenerPath = "/run/agent.sock"
			s.ListenerMetadata = "opaque"
			for _, a := range []specs.LinuxSeccompAction{specs.ActKill, specs.ActKillProcess, specs.ActKillThread,
				specs.ActTrap, specs.ActErrno, specs.ActTrace, specs.ActAllow, specs.ActLog, specs.ActNotify} {
				s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{Names: []string{"read"}, Action: a})
			}
		}},
		{"every operator", func(s *specs.LinuxSeccomp) {
			for _, o := range operatorTable {
				s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{Names: []string{"umask"}, Action: specs.ActErrno,
					Args: []specs.LinuxSeccompArg{{Index: 5, Value: 1, ValueTwo: 1, Op: o.name}}})
			}
		}},
		{"every arch, even ones libseccomp cannot mix", func(s *specs.LinuxSeccomp) {
			s.Architectures = nil
			for _, a := range archTable {
				s.Architectures = append(s.Architectures, a.name)
			}
		}},
		{"errno on trace and default", func(s *specs.LinuxSeccomp) {
			s.DefaultAction = specs.ActTrace
			s.DefaultErrnoRet = ptr(uint(maxErrno))
			s.Syscalls[0].ErrnoRet = ptr(uint(0))
		}},
		{"name only on another arch", func(s *specs.LinuxSeccomp) {
			s.Syscalls[0].Names = append(s.Syscalls[0].Names, "socketcall", "arm_fadvise64_64", "s390_pci_mmio_read")
		}},
		{"newer syscall skipped fail-closed", func(s *specs.LinuxSeccomp) {
			s.DefaultAction = specs.ActErrno
			s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{Names: []string{"listmount", "mseal"}, Action: specs.ActAllow})
		}},
		{"flags", func(s *specs.LinuxSeccomp) {
			s.Flags = []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_TSYNC", specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow}
		}},
		{"rule equal to default", func(s *specs.LinuxSeccomp) {
			s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{Names: []string{"read"}, Action: specs.ActAllow})
		}},
		{"no syscalls", func(s *specs.LinuxSeccomp) { s.Syscalls = nil; s.Architectures = nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := simpleProfile()
			tt.mutate(s)
			if err := Validate(s); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
	if err := Validate(nil); err != nil {
		t.Fatalf("Validate(nil): %v", err)
	}
}

func TestValidateRejects(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*specs.LinuxSeccomp)
		want   string
	}{
		{"unknown default action", func(s *specs.LinuxSeccomp) { s.DefaultAction = "X" },
			`linux.seccomp.defaultAction: unknown action "X"`},
		{"empty default action", func(s *specs.LinuxSeccomp) { s.DefaultAction = "" },
			`linux.seccomp.defaultAction: unknown action ""`},
		{"notify default", func(s *specs.LinuxSeccomp) { s.DefaultAction = specs.ActNotify; s.ListenerPath = "/x" },
			`linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action`},
		{"default errno on allow", func(s *specs.LinuxSeccomp) { s.DefaultErrnoRet = ptr(uint(1)) },
			`linux.seccomp.defaultErrnoRet: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take an errno, not SCMP_ACT_ALLOW`},
		{"default errno too big", func(s *specs.LinuxSeccomp) { s.DefaultAction = specs.ActErrno; s.DefaultErrnoRet = ptr(uint(1 << 16)) },
			`linux.seccomp.defaultErrnoRet: 65536 is out of range`},
		{"unknown arch", func(s *specs.LinuxSeccomp) { s.Architectures[1] = "Y" },
			`linux.seccomp.architectures[1]: unknown architecture "Y"`},
		{"lowercase arch", func(s *specs.LinuxSeccomp) { s.Architectures[0] = "x86_64" },
			`linux.seccomp.architectures[0]: unknown architecture "x86_64"`},
		{"unknown flag", func(s *specs.LinuxSeccomp) { s.Flags = []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_NOPE"} },
			`linux.seccomp.flags[0]: unknown flag "SECCOMP_FILTER_FLAG_NOPE"`},
		{"metadata without path", func(s *specs.LinuxSeccomp) { s.ListenerMetadata = "m" },
			`linux.seccomp.listenerMetadata: set without listenerPath`},
		{"notify without path", func(s *specs.LinuxSeccomp) { s.Syscalls[1].Action = specs.ActNotify; s.Syscalls[1].ErrnoRet = nil },
			`linux.seccomp.syscalls[1].action: SCMP_ACT_NOTIFY requires linux.seccomp.listenerPath`},
		{"unknown action", func(s *specs.LinuxSeccomp) { s.Syscalls[1].Action = "SCMP_ACT_NOPE" },
			`linux.seccomp.syscalls[1].action: unknown action "SCMP_ACT_NOPE"`},
		{"errno on kill", func(s *specs.LinuxSeccomp) { s.Syscalls[1].Action = specs.ActKillProcess },
			`linux.seccomp.syscalls[1].errnoRet: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take an errno, not SCMP_ACT_KILL_PROCESS`},
		{"errno too big", func(s *specs.LinuxSeccomp) { s.Syscalls[0].ErrnoRet = ptr(uint(70000)) },
			`linux.seccomp.syscalls[0].errnoRet: 70000 is out of range`},
		{"no names", func(s *specs.LinuxSeccomp) { s.Syscalls[1].Names = nil },
			`linux.seccomp.syscalls[1].names: must list at least one syscall`},
		{"unknown syscall", func(s *specs.LinuxSeccomp) { s.Syscalls[0].Names[1] = "foo" },
			`linux.seccomp.syscalls[0].names[1]: unknown syscall "foo"`},
		{"empty syscall name", func(s *specs.LinuxSeccomp) { s.Syscalls[0].Names[0] = "" },
			`linux.seccomp.syscalls[0].names[0]: unknown syscall ""`},
		{"syscall name with NUL", func(s *specs.LinuxSeccomp) { s.Syscalls[0].Names[0] = "read\x00x" },
			`linux.seccomp.syscalls[0].names[0]: unknown syscall "read\x00x"`},
		{"unknown syscall in rule equal to default", func(s *specs.LinuxSeccomp) {
			s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{Names: []string{"read", "nope"}, Action: specs.ActAllow})
		}, `linux.seccomp.syscalls[2].names[1]: unknown syscall "nope"`},
		{"newer syscall denied under allow default", func(s *specs.LinuxSeccomp) { s.Syscalls[0].Names = []string{"getcwd", "mseal"} },
			`linux.seccomp.syscalls[0].names[1]: syscall "mseal" is unknown to libseccomp`},
		{"unknown operator", func(s *specs.LinuxSeccomp) { s.Syscalls[1].Args[0].Op = "Z" },
			`linux.seccomp.syscalls[1].args[0].op: unknown operator "Z"`},
		{"arg index out of range", func(s *specs.LinuxSeccomp) {
			s.Syscalls[1].Args = append(s.Syscalls[1].Args, specs.LinuxSeccompArg{Index: 6, Op: specs.OpEqualTo})
		}, `linux.seccomp.syscalls[1].args[1].index: 6 is out of range (0-5)`},
		{"too many alternatives", func(s *specs.LinuxSeccomp) {
			var args []specs.LinuxSeccompArg
			for idx := uint(0); idx < 3; idx++ {
				for v := uint64(0); v < 7; v++ {
					args = append(args, specs.LinuxSeccompArg{Index: idx, Value: v, Op: specs.OpEqualTo})
				}
			}
			s.Syscalls[1].Args = args
		}, `linux.seccomp.syscalls[1].args: conditions on the same argument expand to more than 256 rules`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := simpleProfile()
			tt.mutate(s)
			err := Validate(s)
			if err == nil {
				t.Fatalf("Validate accepted the profile, want error %q", tt.want)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error\n got %q\nwant prefix %q", err, tt.want)
			}
			if !errdefs.IsInvalidArgument(err) {
				t.Fatalf("error %v is not InvalidArgument", err)
			}
			if _, lerr := Load(s); lerr == nil || lerr.Error() != err.Error() {
				t.Fatalf("Load error %v, want the Validate error", lerr)
			}
		})
	}
}

func TestSplitConditions(t *testing.T) {
	eq := func(idx uint, v uint64) specs.LinuxSeccompArg {
		return specs.LinuxSeccompArg{Index: idx, Value: v, Op: specs.OpEqualTo}
	}
	c := func(idx uint, v uint64) libseccomp.ScmpCondition {
		return libseccomp.ScmpCondition{Argument: idx, Op: libseccomp.CompareEqual, Operand1: v}
	}
	type alt = []libseccomp.ScmpCondition
	tests := []struct {
		name string
		args []specs.LinuxSeccompArg
		want [][]libseccomp.ScmpCondition
	}{
		{"none", nil, nil},
		{"one", []specs.LinuxSeccompArg{eq(0, 1)}, [][]libseccomp.ScmpCondition{alt{c(0, 1)}}},
		{"distinct indexes are ANDed", []specs.LinuxSeccompArg{eq(0, 1), eq(2, 3)},
			[][]libseccomp.ScmpCondition{alt{c(0, 1), c(2, 3)}}},
		{"same index is ORed", []specs.LinuxSeccompArg{eq(0, 1), eq(0, 2), eq(0, 3)},
			[][]libseccomp.ScmpCondition{alt{c(0, 1)}, alt{c(0, 2)}, alt{c(0, 3)}}},
		{"mixed: OR within index, AND across", []specs.LinuxSeccompArg{eq(1, 7), eq(0, 1), eq(0, 2), eq(1, 8), eq(3, 9)},
			[][]libseccomp.ScmpCondition{
				alt{c(1, 7), c(0, 1), c(3, 9)}, alt{c(1, 7), c(0, 2), c(3, 9)},
				alt{c(1, 8), c(0, 1), c(3, 9)}, alt{c(1, 8), c(0, 2), c(3, 9)},
			}},
		{"masked keeps both operands", []specs.LinuxSeccompArg{{Index: 4, Value: 0xf0, ValueTwo: 0x10, Op: specs.OpMaskedEqual}},
			[][]libseccomp.ScmpCondition{alt{{Argument: 4, Op: libseccomp.CompareMaskedEqual, Operand1: 0xf0, Operand2: 0x10}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := splitConditions(tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestConversionTables(t *testing.T) {
	actions := map[specs.LinuxSeccompAction]libseccomp.ScmpAction{
		specs.ActKill:        libseccomp.ActKillThread,
		specs.ActKillThread:  libseccomp.ActKillThread,
		specs.ActKillProcess: libseccomp.ActKillProcess,
		specs.ActTrap:        libseccomp.ActTrap,
		specs.ActErrno:       libseccomp.ActErrno.SetReturnCode(int16(unix.EPERM)),
		specs.ActTrace:       libseccomp.ActTrace.SetReturnCode(int16(unix.EPERM)),
		specs.ActAllow:       libseccomp.ActAllow,
		specs.ActLog:         libseccomp.ActLog,
		specs.ActNotify:      libseccomp.ActNotify,
	}
	if len(actionTable) != len(actions) {
		t.Fatalf("actionTable has %d entries, want %d", len(actionTable), len(actions))
	}
	for name, want := range actions {
		a, ok := lookupAction(name)
		if !ok {
			t.Fatalf("action %s not found", name)
		}
		got, err := withErrno(a, nil)
		if err != nil || got != want {
			t.Errorf("%s -> %v, %v; want %v", name, got, err, want)
		}
	}
	if got, _ := withErrno(mustAction(t, specs.ActErrno), ptr(uint(unix.EXDEV))); got.GetReturnCode() != int16(unix.EXDEV) {
		t.Errorf("errnoRet not applied: %v", got)
	}
	if got, _ := withErrno(mustAction(t, specs.ActErrno), ptr(uint(0xffff))); uint16(got.GetReturnCode()) != 0xffff {
		t.Errorf("errnoRet 0xffff not applied: %v", got)
	}

	ops := map[specs.LinuxSeccompOperator]libseccomp.ScmpCompareOp{
		specs.OpNotEqual: libseccomp.CompareNotEqual, specs.OpLessThan: libseccomp.CompareLess,
		specs.OpLessEqual: libseccomp.CompareLessOrEqual, specs.OpEqualTo: libseccomp.CompareEqual,
		specs.OpGreaterEqual: libseccomp.CompareGreaterEqual, specs.OpGreaterThan: libseccomp.CompareGreater,
		specs.OpMaskedEqual: libseccomp.CompareMaskedEqual,
	}
	if len(operatorTable) != len(ops) {
		t.Fatalf("operatorTable has %d entries, want %d", len(operatorTable), len(ops))
	}
	for name, want := range ops {
		if got, ok := lookupOperator(name); !ok || got != want {
			t.Errorf("%s -> %v, %v; want %v", name, got, ok, want)
		}
	}
	if _, ok := lookupOperator("SCMP_CMP_eq"); ok {
		t.Error("operators are case-sensitive")
	}

	// Every OCI arch maps to the libseccomp arch of the same name.
	libName := map[specs.Arch]string{
		specs.ArchX86: "x86", specs.ArchX86_64: "amd64", specs.ArchX32: "x32", specs.ArchARM: "arm",
		specs.ArchAARCH64: "arm64", specs.ArchMIPS: "mips", specs.ArchMIPS64: "mips64",
		specs.ArchMIPS64N32: "mips64n32", specs.ArchMIPSEL: "mipsel", specs.ArchMIPSEL64: "mipsel64",
		specs.ArchMIPSEL64N32: "mipsel64n32", specs.ArchPPC: "ppc", specs.ArchPPC64: "ppc64",
		specs.ArchPPC64LE: "ppc64le", specs.ArchS390: "s390", specs.ArchS390X: "s390x",
		specs.ArchPARISC: "parisc", specs.ArchPARISC64: "parisc64", specs.ArchRISCV64: "riscv64",
		specs.ArchLOONGARCH64: "loong64", specs.ArchM68K: "m68k", specs.ArchSH: "sh", specs.ArchSHEB: "sheb",
	}
	if len(archTable) != len(libName) {
		t.Fatalf("archTable has %d entries, want %d", len(archTable), len(libName))
	}
	for name, want := range libName {
		got, ok := lookupArch(name)
		if !ok || got.String() != want {
			t.Errorf("%s -> %v, %v; want %s", name, got, ok, want)
		}
	}
	native, err := libseccomp.GetNativeArch()
	if err != nil || !libraryHasArch(native) {
		t.Errorf("native arch %v not usable: %v", native, err)
	}

	flags := map[specs.LinuxSeccompFlag]uint{
		"SECCOMP_FILTER_FLAG_TSYNC": 1, specs.LinuxSeccompFlagLog: 2,
		specs.LinuxSeccompFlagSpecAllow: 4, specs.LinuxSeccompFlagWaitKillableRecv: 32,
	}
	for name, want := range flags {
		if got, ok := lookupFlag(name); !ok || got != want {
			t.Errorf("%s -> %v, %v; want %v", name, got, ok, want)
		}
	}
}

func mustAction(t *testing.T, name specs.LinuxSeccompAction) actionEntry {
	t.Helper()
	a, ok := lookupAction(name)
	if !ok {
		t.Fatalf("no action %s", name)
	}
	return a
}
