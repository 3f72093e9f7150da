//go:build linux && cgo

package seccomp

import (
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// actionEntry maps an OCI action name to libseccomp's action and the kernel's
// SECCOMP_RET_* value (used to ask the kernel whether it knows the action).
type actionEntry struct {
	name       specs.LinuxSeccompAction
	act        libseccomp.ScmpAction
	kernelRet  uint32
	takesErrno bool // errnoRet / defaultErrnoRet is meaningful
	permissive bool // the syscall runs (ALLOW, LOG)
}

var actionTable = []actionEntry{
	{specs.ActAllow, libseccomp.ActAllow, unix.SECCOMP_RET_ALLOW, false, true},
	{specs.ActErrno, libseccomp.ActErrno, unix.SECCOMP_RET_ERRNO, true, false},
	{specs.ActKill, libseccomp.ActKillThread, unix.SECCOMP_RET_KILL_THREAD, false, false},
	{specs.ActKillProcess, libseccomp.ActKillProcess, unix.SECCOMP_RET_KILL_PROCESS, false, false},
	{specs.ActKillThread, libseccomp.ActKillThread, unix.SECCOMP_RET_KILL_THREAD, false, false},
	{specs.ActLog, libseccomp.ActLog, unix.SECCOMP_RET_LOG, false, true},
	{specs.ActNotify, libseccomp.ActNotify, unix.SECCOMP_RET_USER_NOTIF, false, false},
	{specs.ActTrace, libseccomp.ActTrace, unix.SECCOMP_RET_TRACE, true, false},
	{specs.ActTrap, libseccomp.ActTrap, unix.SECCOMP_RET_TRAP, false, false},
}

func lookupAction(name specs.LinuxSeccompAction) (actionEntry, bool) {
	for _, a := range actionTable {
		if a.name == name {
			return a, true
		}
	}
	return actionEntry{}, false
}

var operatorTable = []struct {
	name specs.LinuxSeccompOperator
	op   libseccomp.ScmpCompareOp
}{
	{specs.OpEqualTo, libseccomp.CompareEqual},
	{specs.OpGreaterEqual, libseccomp.CompareGreaterEqual},
	{specs.OpGreaterThan, libseccomp.CompareGreater},
	{specs.OpLessEqual, libseccomp.CompareLessOrEqual},
	{specs.OpLessThan, libseccomp.CompareLess},
	{specs.OpMaskedEqual, libseccomp.CompareMaskedEqual},
	{specs.OpNotEqual, libseccomp.CompareNotEqual},
}

func lookupOperator(name specs.LinuxSeccompOperator) (libseccomp.ScmpCompareOp, bool) {
	for _, o := range operatorTable {
		if o.name == name {
			return o.op, true
		}
	}
	return libseccomp.CompareInvalid, false
}

var archTable = []struct {
	name specs.Arch
	arch libseccomp.ScmpArch
}{
	{specs.ArchAARCH64, libseccomp.ArchARM64},
	{specs.ArchARM, libseccomp.ArchARM},
	{specs.ArchLOONGARCH64, libseccomp.ArchLOONGARCH64},
	{specs.ArchM68K, libseccomp.ArchM68K},
	{specs.ArchMIPS, libseccomp.ArchMIPS},
	{specs.ArchMIPS64, libseccomp.ArchMIPS64},
	{specs.ArchMIPS64N32, libseccomp.ArchMIPS64N32},
	{specs.ArchMIPSEL, libseccomp.ArchMIPSEL},
	{specs.ArchMIPSEL64, libseccomp.ArchMIPSEL64},
	{specs.ArchMIPSEL64N32, libseccomp.ArchMIPSEL64N32},
	{specs.ArchPARISC, libseccomp.ArchPARISC},
	{specs.ArchPARISC64, libseccomp.ArchPARISC64},
	{specs.ArchPPC, libseccomp.ArchPPC},
	{specs.ArchPPC64, libseccomp.ArchPPC64},
	{specs.ArchPPC64LE, libseccomp.ArchPPC64LE},
	{specs.ArchRISCV64, libseccomp.ArchRISCV64},
	{specs.ArchS390, libseccomp.ArchS390},
	{specs.ArchS390X, libseccomp.ArchS390X},
	{specs.ArchSH, libseccomp.ArchSH},
	{specs.ArchSHEB, libseccomp.ArchSHEB},
	{specs.ArchX32, libseccomp.ArchX32},
	{specs.ArchX86, libseccomp.ArchX86},
	{specs.ArchX86_64, libseccomp.ArchAMD64},
}

func lookupArch(name specs.Arch) (libseccomp.ScmpArch, bool) {
	for _, a := range archTable {
		if a.name == name {
			return a.arch, true
		}
	}
	return libseccomp.ArchInvalid, false
}

// flagTSYNC is not among the runtime-spec Go constants but is in the spec text.
const flagTSYNC specs.LinuxSeccompFlag = "SECCOMP_FILTER_FLAG_TSYNC"

var flagTable = []struct {
	name specs.LinuxSeccompFlag
	bit  uint
}{
	{specs.LinuxSeccompFlagLog, unix.SECCOMP_FILTER_FLAG_LOG},
	{specs.LinuxSeccompFlagSpecAllow, unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW},
	{flagTSYNC, unix.SECCOMP_FILTER_FLAG_TSYNC},
	{specs.LinuxSeccompFlagWaitKillableRecv, unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV},
}

func lookupFlag(name specs.LinuxSeccompFlag) (uint, bool) {
	for _, f := range flagTable {
		if f.name == name {
			return f.bit, true
		}
	}
	return 0, false
}

// newerSyscalls are real Linux syscalls that libseccomp releases older than
// the kernel may be unable to name. A profile (Docker's default among them)
// may list them; when libseccomp cannot resolve one, its rule is skipped
// rather than failing the whole container.
var newerSyscalls = map[string]bool{
	"statmount": true, "listmount": true,
	"lsm_get_self_attr": true, "lsm_set_self_attr": true, "lsm_list_modules": true,
	"mseal":      true,
	"setxattrat": true, "getxattrat": true, "listxattrat": true, "removexattrat": true,
	"open_tree_attr": true,
	"file_getattr":   true, "file_setattr": true,
	"uretprobe": true, "uprobe": true,
}

// syscallNames caches libseccomp's resolution of names to native-arch numbers
// (negative "pseudo" numbers for names that exist only on other arches). Only
// successful lookups are stored, so the cache is bounded by libseccomp's table.
var syscallNames = struct {
	sync.Mutex
	m map[string]libseccomp.ScmpSyscall
}{m: make(map[string]libseccomp.ScmpSyscall, 512)}

// resolveSyscall returns the native number libseccomp uses for name.
func resolveSyscall(name string) (libseccomp.ScmpSyscall, bool) {
	if name == "" || strings.IndexByte(name, 0) >= 0 {
		return 0, false
	}
	syscallNames.Lock()
	defer syscallNames.Unlock()
	if nr, ok := syscallNames.m[name]; ok {
		return nr, true
	}
	nr, err := libseccomp.GetSyscallFromName(name)
	if err != nil {
		return 0, false
	}
	syscallNames.m[name] = nr
	return nr, true
}
