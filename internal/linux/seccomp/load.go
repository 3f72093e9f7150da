//go:build linux && cgo

package seccomp

import (
	"fmt"
	"runtime"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Load builds the filter described by s and installs it on the calling
// thread (on every thread of the process if s asks for
// SECCOMP_FILTER_FLAG_TSYNC). Callers lock their OS thread, set
// no_new_privs or hold CAP_SYS_ADMIN, and exec from that thread; the filter
// is inherited across exec. It returns the user-notification fd (close-on-exec)
// when the profile uses SCMP_ACT_NOTIFY, else -1. A nil s loads nothing.
func Load(s *specs.LinuxSeccomp) (notifyFD int, err error) {
	f, err := Compile(s)
	if err != nil || f == nil {
		return -1, err
	}
	return f.Load()
}

// Load installs a compiled filter on the calling thread, with the same
// contract as the package-level Load.
func (f *Filter) Load() (notifyFD int, err error) {
	if f == nil || len(f.prog) == 0 {
		return -1, fmt.Errorf("linux.seccomp: loading filter: empty program")
	}
	return install(f.prog, f.flags, f.notify)
}

// install hands prog to seccomp(2).
func install(prog []unix.SockFilter, flags uint, notify bool) (int, error) {
	if notify {
		flags |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
		if flags&unix.SECCOMP_FILTER_FLAG_TSYNC != 0 {
			// TSYNC reports a failing thread id in the return value, which
			// is also where the listener fd goes; ask for ESRCH instead.
			flags |= unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH
		}
	} else {
		flags &^= unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	r1, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(flags), uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(prog)
	if errno != 0 {
		return -1, loadError(errno, flags)
	}
	if notify {
		return int(r1), nil
	}
	if r1 != 0 { // TSYNC without a listener: r1 is a thread that could not sync
		return -1, fmt.Errorf("linux.seccomp: loading filter: thread %d could not be synchronized (SECCOMP_FILTER_FLAG_TSYNC)", r1)
	}
	return -1, nil
}

func loadError(errno unix.Errno, flags uint) error {
	var hint string
	switch errno {
	case unix.EACCES:
		hint = " (the process needs no_new_privs or CAP_SYS_ADMIN)"
	case unix.ESRCH:
		hint = " (another thread could not be synchronized, SECCOMP_FILTER_FLAG_TSYNC)"
	case unix.EINVAL:
		hint = fmt.Sprintf(" (kernel refused the program or flags %#x)", flags)
	case unix.EBUSY:
		hint = " (a listener already exists on this thread's filters)"
	}
	return fmt.Errorf("linux.seccomp: loading filter: %w%s", errno, hint)
}
