//go:build linux && cgo

package seccomp

import (
	"sync"
	"unsafe"

	"github.com/opencontainers/runtime-spec/specs-go/features"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// Enabled reports whether the kernel supports seccomp filters: PR_GET_SECCOMP
// works (CONFIG_SECCOMP) and seccomp(2) answers (CONFIG_SECCOMP_FILTER).
func Enabled() bool { return enabled() }

var enabled = sync.OnceValue(func() bool {
	if _, err := unix.PrctlRetInt(unix.PR_GET_SECCOMP, 0, 0, 0, 0); err != nil {
		return false
	}
	// SECCOMP_GET_ACTION_AVAIL exists since 4.14; older kernels with filter
	// support answer EINVAL for the unknown operation rather than ENOSYS.
	var ret uint32 = unix.SECCOMP_RET_ALLOW
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_GET_ACTION_AVAIL, 0, uintptr(unsafe.Pointer(&ret)))
	return errno != unix.ENOSYS
})

// Features reports what `berth-oci features` prints under linux.seccomp
// (runtime-spec features.json): the actions, operators and architectures
// this runtime recognizes, the flags it knows, and the flags this kernel
// accepts. Only architectures the linked libseccomp can build are listed.
func Features() *features.Seccomp {
	on := Enabled()
	f := &features.Seccomp{Enabled: &on}
	for _, a := range actionTable {
		f.Actions = append(f.Actions, string(a.name))
	}
	for _, o := range operatorTable {
		f.Operators = append(f.Operators, string(o.name))
	}
	for _, a := range archTable {
		if libraryHasArch(a.arch) {
			f.Archs = append(f.Archs, string(a.name))
		}
	}
	supported := supportedFlagBits()
	f.KnownFlags = []string{}
	f.SupportedFlags = []string{}
	for _, fl := range flagTable {
		f.KnownFlags = append(f.KnownFlags, string(fl.name))
		if on && supported&fl.bit != 0 {
			f.SupportedFlags = append(f.SupportedFlags, string(fl.name))
		}
	}
	return f
}

// kernelHasAction asks the kernel whether it implements a SECCOMP_RET_*
// action. Kernels before 4.14 cannot be asked; they have the original five.
func kernelHasAction(ret uint32) bool { return kernelActions()[ret] }

var kernelActions = sync.OnceValue(func() map[uint32]bool {
	m := make(map[uint32]bool, len(actionTable))
	for _, a := range actionTable {
		r := a.kernelRet
		_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_GET_ACTION_AVAIL, 0, uintptr(unsafe.Pointer(&r)))
		switch errno {
		case 0:
			m[a.kernelRet] = true
		case unix.EINVAL: // operation unknown: pre-4.14
			switch a.kernelRet {
			case unix.SECCOMP_RET_KILL_THREAD, unix.SECCOMP_RET_TRAP, unix.SECCOMP_RET_ERRNO,
				unix.SECCOMP_RET_TRACE, unix.SECCOMP_RET_ALLOW:
				m[a.kernelRet] = true
			}
		}
	}
	return m
})

// supportedFlagBits probes each known flag once. seccomp(SET_MODE_FILTER,
// flag, NULL) rejects unknown flags with EINVAL before it reads the program,
// and fails with EFAULT on the NULL program otherwise, so nothing is loaded.
var supportedFlagBits = sync.OnceValue(func() uint {
	var bits uint
	for _, f := range flagTable {
		probe := f.bit
		if f.bit == unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV {
			probe |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER // only valid with a listener
		}
		if probeFlag(probe) {
			bits |= f.bit
		}
	}
	return bits
})

func probeFlag(flags uint) bool {
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(flags), 0)
	return errno == unix.EFAULT
}

// libraryHasArch reports whether the linked libseccomp can build filters for
// arch (loongarch64, m68k and sh need libseccomp 2.6).
func libraryHasArch(arch libseccomp.ScmpArch) bool { return libraryArches()[arch] }

var libraryArches = sync.OnceValue(func() map[libseccomp.ScmpArch]bool {
	m := make(map[libseccomp.ScmpArch]bool, len(archTable))
	for _, a := range archTable {
		_, err := libseccomp.GetSyscallFromNameByArch("read", a.arch)
		m[a.arch] = err == nil
	}
	return m
})
