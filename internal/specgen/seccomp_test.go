package specgen

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/errdefs"
)

func TestDefaultSeccompShape(t *testing.T) {
	s := DefaultSeccomp()
	if s.DefaultAction != specs.ActErrno || s.DefaultErrnoRet == nil || *s.DefaultErrnoRet != 1 {
		t.Errorf("default action %s errno %v, want ERRNO(EPERM)", s.DefaultAction, s.DefaultErrnoRet)
	}
	for _, name := range []string{"read", "write", "openat", "execve", "futex", "epoll_wait", "accept4",
		"clock_gettime", "rt_sigreturn", "exit_group", "mmap", "statx", "getrandom", "capset", "chroot"} {
		if !allowed(s, name) {
			t.Errorf("%s is not allowed by default", name)
		}
	}
	for _, name := range []string{"kexec_load", "kexec_file_load", "reboot", "init_module", "finit_module",
		"delete_module", "mount", "umount2", "unshare", "setns", "pivot_root", "swapon", "acct",
		"settimeofday", "clock_settime", "keyctl", "add_key", "request_key", "bpf", "perf_event_open",
		"open_by_handle_at", "io_uring_setup", "userfaultfd", "iopl", "ioperm", "syslog", "vhangup",
		"quotactl", "lookup_dcookie", "uselib", "ustat", "sysfs", "_sysctl", "vm86", "nfsservctl"} {
		if mentioned(s, name) {
			t.Errorf("%s is allowed by default", name)
		}
	}
	// The native architecture and its compat modes are covered.
	switch nativeArch() {
	case "amd64":
		if !slices.Equal(s.Architectures, []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}) {
			t.Errorf("architectures = %v", s.Architectures)
		}
	case "arm64":
		if !slices.Equal(s.Architectures, []specs.Arch{specs.ArchAARCH64, specs.ArchARM}) {
			t.Errorf("architectures = %v", s.Architectures)
		}
	}
}

func TestDefaultSeccompConditionalRules(t *testing.T) {
	s := DefaultSeccomp()
	// clone is allowed only without namespace flags.
	var clone []specs.LinuxSyscall
	for _, r := range s.Syscalls {
		if slices.Contains(r.Names, "clone") {
			clone = append(clone, r)
		}
	}
	if len(clone) != 1 || len(clone[0].Args) != 1 {
		t.Fatalf("clone rules = %+v", clone)
	}
	a := clone[0].Args[0]
	if a.Op != specs.OpMaskedEqual || a.Value != 0x7E020000 || a.ValueTwo != 0 {
		t.Errorf("clone condition = %+v", a)
	}
	if a.Index != 0 && nativeArch() != "s390x" {
		t.Errorf("clone flags checked at index %d", a.Index)
	}
	// clone3 answers ENOSYS so libc falls back to clone.
	found := false
	for _, r := range s.Syscalls {
		if slices.Contains(r.Names, "clone3") {
			found = true
			if r.Action != specs.ActErrno || r.ErrnoRet == nil || *r.ErrnoRet != 38 {
				t.Errorf("clone3 rule = %+v", r)
			}
		}
	}
	if !found {
		t.Error("no clone3 rule")
	}
	// personality only with the harmless personas.
	var personas []uint64
	for _, r := range s.Syscalls {
		if slices.Contains(r.Names, "personality") {
			if len(r.Args) != 1 || r.Args[0].Op != specs.OpEqualTo {
				t.Errorf("personality rule = %+v", r)
				continue
			}
			personas = append(personas, r.Args[0].Value)
		}
	}
	slices.Sort(personas)
	if !slices.Equal(personas, []uint64{0, 8, 0x20000, 0x20008, 0xffffffff}) {
		t.Errorf("personas = %#x", personas)
	}
	// socket in every family but vsock.
	for _, r := range s.Syscalls {
		if slices.Contains(r.Names, "socket") {
			if len(r.Args) != 1 || r.Args[0].Value != 40 || r.Args[0].Op != specs.OpNotEqual {
				t.Errorf("socket rule = %+v", r)
			}
		}
	}
	if nativeArch() == "amd64" && !allowed(s, "arch_prctl") {
		t.Error("arch_prctl not allowed on amd64")
	}
	if nativeArch() == "amd64" && (allowed(s, "s390_runtime_instr") || allowed(s, "set_tls")) {
		t.Error("another architecture's calls are allowed")
	}
}

func TestSeccompAdaptsToCapabilities(t *testing.T) {
	withKernel(t, kver{5, 15})
	for _, tc := range []struct {
		add     []string
		allow   []string
		deny    []string
		cloneOK bool // clone unconditionally allowed
	}{
		{nil, nil, []string{"mount", "setns", "unshare", "reboot", "kexec_load", "init_module", "settimeofday"}, false},
		{[]string{"SYS_ADMIN"}, []string{"mount", "umount2", "unshare", "setns", "clone", "clone3", "sethostname", "pivot_root", "bpf"}, []string{"reboot", "kexec_load"}, true},
		{[]string{"SYS_PTRACE"}, []string{"ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "userfaultfd"}, []string{"mount"}, false},
		{[]string{"SYS_BOOT"}, []string{"reboot", "kexec_load", "kexec_file_load"}, []string{"mount"}, false},
		{[]string{"SYS_MODULE"}, []string{"init_module", "finit_module", "delete_module"}, nil, false},
		{[]string{"SYS_TIME"}, []string{"settimeofday", "clock_settime", "clock_adjtime"}, nil, false},
		{[]string{"SYS_NICE"}, []string{"mbind", "set_mempolicy", "get_mempolicy", "move_pages"}, nil, false},
		{[]string{"SYS_RAWIO"}, []string{"iopl", "ioperm"}, nil, false},
		{[]string{"SYS_PACCT"}, []string{"acct"}, nil, false},
		{[]string{"SYSLOG"}, []string{"syslog"}, []string{"mount"}, false},
		{[]string{"SYS_TTY_CONFIG"}, []string{"vhangup"}, nil, false},
		{[]string{"DAC_READ_SEARCH"}, []string{"open_by_handle_at"}, nil, false},
	} {
		t.Run(strings.Join(tc.add, ","), func(t *testing.T) {
			s := generate(t, busybox, Options{CapAdd: tc.add}).Linux.Seccomp
			for _, n := range tc.allow {
				if !allowed(s, n) {
					t.Errorf("%s not allowed", n)
				}
			}
			for _, n := range tc.deny {
				if allowed(s, n) {
					t.Errorf("%s allowed", n)
				}
			}
			if allowed(s, "clone") != tc.cloneOK {
				t.Errorf("unconditional clone = %v", allowed(s, "clone"))
			}
			// With CAP_SYS_ADMIN, clone3 is allowed rather than ENOSYS.
			for _, r := range s.Syscalls {
				if slices.Contains(r.Names, "clone3") && r.Action == specs.ActErrno && tc.cloneOK {
					t.Error("clone3 still fails with CAP_SYS_ADMIN")
				}
			}
		})
	}
	// A capability in the default set that is dropped takes its calls along.
	if s := generate(t, busybox, Options{CapDrop: []string{"SYS_CHROOT"}}).Linux.Seccomp; allowed(s, "chroot") {
		t.Error("chroot allowed without CAP_SYS_CHROOT")
	}
	// Dropping every capability keeps ptrace (kernel >= 4.8) but nothing
	// capability-gated.
	s := generate(t, busybox, Options{CapDrop: []string{"ALL"}}).Linux.Seccomp
	if !allowed(s, "ptrace") || allowed(s, "mount") {
		t.Error("drop ALL: wrong rules")
	}
}

func TestSeccompMinKernel(t *testing.T) {
	withKernel(t, kver{4, 4})
	s := generate(t, busybox, Options{}).Linux.Seccomp
	if allowed(s, "ptrace") {
		t.Error("ptrace allowed on a kernel older than 4.8 without CAP_SYS_PTRACE")
	}
	s = generate(t, busybox, Options{CapAdd: []string{"SYS_PTRACE"}}).Linux.Seccomp
	if !allowed(s, "ptrace") {
		t.Error("ptrace denied with CAP_SYS_PTRACE")
	}
}

func TestDefaultProfileIsFresh(t *testing.T) {
	a := DefaultSeccomp()
	a.Syscalls[0].Names[0] = "changed"
	a.Architectures = append(a.Architectures[:0], "x")
	b := DefaultSeccomp()
	if b.Syscalls[0].Names[0] == "changed" || b.Architectures[0] == "x" {
		t.Error("DefaultSeccomp results share memory")
	}
}

func TestParseSeccompProfile(t *testing.T) {
	withKernel(t, kver{5, 10})
	const profile = `{
		"defaultAction": "SCMP_ACT_ERRNO",
		"defaultErrnoRet": 1,
		"archMap": [
			{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
			{"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}
		],
		"syscalls": [
			{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "comment": "basics"},
			{"name": "getpid", "action": "SCMP_ACT_ALLOW"},
			{"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
			{"names": ["chown"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_CHOWN"]}},
			{"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
			{"names": ["set_tls"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm64"]}},
			{"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
			{"names": ["future_call"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "9.0"}},
			{"names": ["uname"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
			{"names": ["clone"], "action": "SCMP_ACT_ALLOW",
			 "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}
		],
		"unknownField": "ignored"
	}`
	s, err := ParseSeccompProfile([]byte(profile))
	if err != nil {
		t.Fatal(err)
	}
	if s.DefaultAction != specs.ActErrno || *s.DefaultErrnoRet != 1 {
		t.Errorf("default = %s %v", s.DefaultAction, s.DefaultErrnoRet)
	}
	for _, n := range []string{"read", "write", "getpid", "ptrace"} {
		if !allowed(s, n) {
			t.Errorf("%s not allowed", n)
		}
	}
	// Docker's default set has CAP_CHOWN and not CAP_SYS_ADMIN.
	for _, n := range []string{"mount", "chown", "future_call"} {
		if mentioned(s, n) {
			t.Errorf("%s kept", n)
		}
	}
	switch nativeArch() {
	case "amd64":
		if !allowed(s, "arch_prctl") || mentioned(s, "set_tls") {
			t.Error("arch conditions not applied")
		}
		if !slices.Equal(s.Architectures, []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}) {
			t.Errorf("architectures = %v", s.Architectures)
		}
	case "arm64":
		if !allowed(s, "set_tls") || mentioned(s, "arch_prctl") {
			t.Error("arch conditions not applied")
		}
	}
	for _, r := range s.Syscalls {
		if slices.Contains(r.Names, "uname") && (r.ErrnoRet == nil || *r.ErrnoRet != 38) {
			t.Errorf("uname rule = %+v", r)
		}
		if slices.Contains(r.Names, "clone") && (len(r.Args) != 1 || r.Args[0].Value != 2114060288) {
			t.Errorf("clone rule = %+v", r)
		}
	}
	// The old format: a flat architectures list and one name per rule.
	old := `{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"syscalls":[{"name":"mkdir","action":"SCMP_ACT_ERRNO","args":[]}]}`
	s, err = ParseSeccompProfile([]byte(old))
	if err != nil {
		t.Fatal(err)
	}
	if s.DefaultAction != specs.ActAllow || len(s.Syscalls) != 1 || s.Syscalls[0].Names[0] != "mkdir" || len(s.Architectures) != 1 {
		t.Errorf("old format = %+v", s)
	}
}

func TestParseSeccompProfileErrors(t *testing.T) {
	for name, p := range map[string]string{
		"not json":                `{`,
		"trailing data":           `{"defaultAction":"SCMP_ACT_ALLOW"} {}`,
		"no default action":       `{"syscalls":[]}`,
		"unknown default action":  `{"defaultAction":"SCMP_ACT_MAYBE"}`,
		"notify default":          `{"defaultAction":"SCMP_ACT_NOTIFY"}`,
		"both arch forms":         `{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86"],"archMap":[{"architecture":"SCMP_ARCH_X86_64"}]}`,
		"unknown arch":            `{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_Z80"]}`,
		"unknown sub arch":        `{"defaultAction":"SCMP_ACT_ALLOW","archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":["x"]}]}`,
		"name and names":          `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"a","names":["b"],"action":"SCMP_ACT_ERRNO"}]}`,
		"no names":                `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"action":"SCMP_ACT_ERRNO"}]}`,
		"bad name":                `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["Open Sesame"],"action":"SCMP_ACT_ERRNO"}]}`,
		"unknown action":          `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_PANIC"}]}`,
		"notify without listener": `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_NOTIFY"}]}`,
		"errnoRet with allow":     `{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","errnoRet":1}]}`,
		"arg index":               `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}`,
		"unknown op":              `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"SCMP_CMP_ABOUT"}]}]}`,
		"unknown cap":             `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","includes":{"caps":["CAP_MAGIC"]}}]}`,
		"bad min kernel":          `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","includes":{"minKernel":"four"}}]}`,
		"unknown flag":            `{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_FAST"]}`,
		"wrong type":              `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":{"names":"read"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseSeccompProfile([]byte(p))
			if err == nil {
				t.Fatal("accepted")
			}
			if !errdefs.IsInvalidArgument(err) {
				t.Errorf("error %q is not InvalidArgument", err)
			}
		})
	}
}

func TestDefaultProfileRoundTrip(t *testing.T) {
	// The default profile, written out in Docker's format, reads back the
	// same: users can start their own profiles from it.
	b, err := json.Marshal(defaultProfile())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseSeccompProfile(b)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultSeccomp()
	got, _ := json.Marshal(s)
	wantJSON, _ := json.Marshal(want)
	if string(got) != string(wantJSON) {
		t.Error("the default profile does not survive JSON")
	}
}

func TestParseKernel(t *testing.T) {
	for in, want := range map[string]kver{"4.8": {4, 8}, "5.10.0-23-amd64": {5, 10}, "6.1": {6, 1}, "3.10.0": {3, 10}, "6.10rc1": {6, 10}} {
		got, err := parseKernel(in)
		if err != nil || got != want {
			t.Errorf("parseKernel(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "4", "x.y", "4.", "-1.2", ".5"} {
		if _, err := parseKernel(bad); err == nil {
			t.Errorf("parseKernel(%q) accepted", bad)
		}
	}
	if !(kver{5, 10}).atLeast(kver{4, 8}) || (kver{4, 7}).atLeast(kver{4, 8}) || !(kver{4, 8}).atLeast(kver{4, 8}) {
		t.Error("atLeast")
	}
}
