//go:build linux && cgo

package seccomp

import (
	"os"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// pfc builds s and returns libseccomp's human-readable dump of the filter.
func pfc(t *testing.T, s *specs.LinuxSeccomp) string {
	t.Helper()
	p, err := compile(s)
	if err != nil {
		t.Fatal(err)
	}
	f, err := p.newFilter()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Release()
	out, err := os.CreateTemp(t.TempDir(), "pfc")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if err := f.ExportPFC(out); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out.Name())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestBuildProfiles(t *testing.T) {
	allArches := simpleProfile()
	allArches.Architectures = nil
	for _, a := range archTable {
		allArches.Architectures = append(allArches.Architectures, a.name)
	}
	everyAction := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, ListenerPath: "/x"}
	for i, a := range actionTable {
		everyAction.Syscalls = append(everyAction.Syscalls, specs.LinuxSyscall{
			Names: []string{[]string{"read", "write", "open", "close", "stat", "fstat", "lstat", "poll", "lseek"}[i]}, Action: a.name})
	}
	tests := map[string]*specs.LinuxSeccomp{
		"simple":       simpleProfile(),
		"default-like": defaultLikeProfile(uint(unix.EPERM)),
		"all arches":   allArches,
		"every action": everyAction,
		"only default": {DefaultAction: specs.ActKillProcess},
	}
	for name, s := range tests {
		t.Run(name, func(t *testing.T) {
			p, err := compile(s)
			if err != nil {
				t.Fatal(err)
			}
			prog, err := p.bpf()
			if err != nil {
				t.Fatal(err)
			}
			if len(prog) == 0 || len(prog) > maxInstructions {
				t.Fatalf("program has %d instructions", len(prog))
			}
			// The last instruction of a seccomp program is a return.
			if last := prog[len(prog)-1]; last.Code != unix.BPF_RET|unix.BPF_K {
				t.Fatalf("last instruction %+v is not a return", last)
			}
		})
	}
}

func TestBuildDropsRulesEqualToDefault(t *testing.T) {
	p, err := compile(defaultLikeProfile(uint(unix.EPERM)))
	if err != nil {
		t.Fatal(err)
	}
	ptrace, _ := libseccomp.GetSyscallFromName("ptrace")
	clone3, _ := libseccomp.GetSyscallFromName("clone3")
	var sawClone3 bool
	for _, r := range p.rules {
		if r.call == ptrace {
			t.Fatal("rule for ptrace equals the default action and should be dropped")
		}
		sawClone3 = sawClone3 || r.call == clone3
	}
	if !sawClone3 {
		t.Fatal("clone3 ENOSYS rule missing")
	}
	// With a different default errno, the ptrace rule stays.
	p, err = compile(defaultLikeProfile(uint(unix.EACCES)))
	if err != nil {
		t.Fatal(err)
	}
	_ = p
}

func TestBuildSplitsSameIndexConditions(t *testing.T) {
	s := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{{
			Names: []string{"personality"}, Action: specs.ActErrno,
			Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: 0x1111, Op: specs.OpEqualTo},
				{Index: 0, Value: 0x2222, Op: specs.OpEqualTo},
			},
		}},
	}
	out := pfc(t, s)
	for _, want := range []string{"== 4369", "== 8738"} { // 0x1111, 0x2222
		if !strings.Contains(out, want) {
			t.Errorf("filter lacks %q:\n%s", want, out)
		}
	}
}

func TestBuildNameOnOtherArch(t *testing.T) {
	s := &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86},
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"socketcall", "read"}, Action: specs.ActAllow}},
	}
	native, _ := libseccomp.GetNativeArch()
	if native != libseccomp.ArchAMD64 {
		t.Skip("x86_64 host only")
	}
	out := pfc(t, s)
	// Names that exist on no arch of this filter, with and without
	// conditions, are accepted and skipped.
	s.Syscalls = append(s.Syscalls,
		specs.LinuxSyscall{Names: []string{"arm_fadvise64_64", "s390_pci_mmio_read", "riscv_flush_icache"}, Action: specs.ActAllow},
		specs.LinuxSyscall{Names: []string{"socketcall", "cacheflush"}, Action: specs.ActLog,
			Args: []specs.LinuxSeccompArg{{Index: 0, Value: 1, Op: specs.OpEqualTo}}})
	if _, err := Compile(s); err != nil {
		t.Fatal(err)
	}
	// socketcall exists on x86 (102), not on x86_64.
	if !strings.Contains(out, `syscall "socketcall" (102)`) {
		t.Errorf("x86 socketcall rule missing:\n%s", out)
	}
}

func TestDecodeBPF(t *testing.T) {
	if _, err := decodeBPF(nil); err == nil {
		t.Error("empty program accepted")
	}
	if _, err := decodeBPF(make([]byte, 12)); err == nil {
		t.Error("ragged program accepted")
	}
	if _, err := decodeBPF(make([]byte, 8*(maxInstructions+1))); err == nil || !strings.Contains(err.Error(), "allows 4096") {
		t.Errorf("oversized program: %v", err)
	}
	raw := []byte{0x06, 0x00, 1, 2, 0, 0, 0xff, 0x7f}
	prog, err := decodeBPF(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(prog) != 1 || prog[0].Code != 6 || prog[0].Jt != 1 || prog[0].Jf != 2 {
		t.Fatalf("decoded %+v", prog)
	}
}

func TestFeatures(t *testing.T) {
	f := Features()
	if f.Enabled == nil || !*f.Enabled {
		t.Fatal("seccomp not enabled on this kernel")
	}
	if len(f.Actions) != 9 || len(f.Operators) != 7 {
		t.Errorf("actions %v operators %v", f.Actions, f.Operators)
	}
	if !contains(f.Archs, string(specs.ArchX86_64)) || !contains(f.Archs, string(specs.ArchAARCH64)) {
		t.Errorf("archs %v", f.Archs)
	}
	if len(f.KnownFlags) != 4 {
		t.Errorf("knownFlags %v", f.KnownFlags)
	}
	for _, fl := range f.SupportedFlags {
		if !contains(f.KnownFlags, fl) {
			t.Errorf("supported flag %s not known", fl)
		}
	}
	// Every recognized name must be accepted by Validate.
	s := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: "/x"}
	for _, a := range f.Archs {
		s.Architectures = append(s.Architectures, specs.Arch(a))
	}
	for _, fl := range f.SupportedFlags {
		s.Flags = append(s.Flags, specs.LinuxSeccompFlag(fl))
	}
	for _, a := range f.Actions {
		if a != string(specs.ActAllow) {
			s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{Names: []string{"read"}, Action: specs.LinuxSeccompAction(a)})
		}
	}
	for _, o := range f.Operators {
		s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{Names: []string{"write"}, Action: specs.ActLog,
			Args: []specs.LinuxSeccompArg{{Index: 1, Value: 3, Op: specs.LinuxSeccompOperator(o)}}})
	}
	if err := Validate(s); err != nil {
		t.Fatal(err)
	}
	t.Logf("supported flags: %v", f.SupportedFlags)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// BenchmarkBuildDefaultLike measures what Load does before the final
// seccomp(2) call for a ~330-name default-like profile on three arches.
func BenchmarkBuildDefaultLike(b *testing.B) {
	s := defaultLikeProfile(uint(unix.EPERM))
	b.ReportAllocs()
	for b.Loop() {
		p, err := compile(s)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.bpf(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidateDefaultLike measures the check `create` runs.
func BenchmarkValidateDefaultLike(b *testing.B) {
	s := defaultLikeProfile(uint(unix.EPERM))
	b.ReportAllocs()
	for b.Loop() {
		if err := Validate(s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompileCachedDefaultLike is the same profile on a cache hit.
func BenchmarkCompileCachedDefaultLike(b *testing.B) {
	s := defaultLikeProfile(uint(unix.EPERM))
	dir := b.TempDir()
	if _, err := CompileCached(dir, s); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := CompileCached(dir, s); err != nil {
			b.Fatal(err)
		}
	}
}
