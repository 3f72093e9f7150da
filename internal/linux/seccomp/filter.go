//go:build linux

package seccomp

// This file is what a process needs to install a filter compiled elsewhere
// (the container's init gets its filter from berth-oci as bytes): it does
// not use libseccomp, so it builds without cgo.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// maxInstructions is the kernel's BPF_MAXINSNS for a seccomp program.
const maxInstructions = 4096

// Filter is a compiled profile: the BPF program and how to install it. It
// can be built in one process (which may keep a cache, see CompileCached)
// and sent to another (MarshalBinary) that installs it with Load.
type Filter struct {
	prog   []unix.SockFilter
	flags  uint // SECCOMP_FILTER_FLAG_* from the profile
	notify bool // install with a listener
}

// Notify reports whether loading f yields a user-notification fd.
func (f *Filter) Notify() bool { return f.notify }

// Len is the number of BPF instructions.
func (f *Filter) Len() int { return len(f.prog) }

// wireMagic starts a marshalled Filter; bump the digit if the layout changes.
const wireMagic = "berth-seccomp-1\n"

// MarshalBinary encodes f for another process (or the cache):
// magic, flags (u32), notify (u8), instruction count (u32), instructions.
func (f *Filter) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, len(wireMagic)+9+8*len(f.prog))
	b = append(b, wireMagic...)
	b = binary.LittleEndian.AppendUint32(b, uint32(f.flags))
	if f.notify {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(f.prog)))
	for _, ins := range f.prog {
		b = binary.LittleEndian.AppendUint16(b, ins.Code)
		b = append(b, ins.Jt, ins.Jf)
		b = binary.LittleEndian.AppendUint32(b, ins.K)
	}
	return b, nil
}

// UnmarshalBinary decodes what MarshalBinary produced.
func (f *Filter) UnmarshalBinary(b []byte) error {
	bad := errors.New("linux.seccomp: malformed compiled filter")
	if len(b) < len(wireMagic)+9 || string(b[:len(wireMagic)]) != wireMagic {
		return bad
	}
	b = b[len(wireMagic):]
	flags := uint(binary.LittleEndian.Uint32(b))
	notify := b[4]
	n := int(binary.LittleEndian.Uint32(b[5:]))
	b = b[9:]
	if notify > 1 || n == 0 || n > maxInstructions || len(b) != 8*n {
		return bad
	}
	prog := make([]unix.SockFilter, n)
	for i := range prog {
		ins := b[8*i:]
		prog[i] = unix.SockFilter{
			Code: binary.LittleEndian.Uint16(ins),
			Jt:   ins[2], Jf: ins[3],
			K: binary.LittleEndian.Uint32(ins[4:]),
		}
	}
	*f = Filter{prog: prog, flags: flags, notify: notify == 1}
	return nil
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
