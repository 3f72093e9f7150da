package rootfs

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The mount-family calls are raw system calls. They are the slow ones of a
// container's set-up (tens to hundreds of microseconds each); the Go
// runtime treats a regular call that long as blocked, hands the init's one
// P to another thread (which it then must create, and kill at execve), and
// keeps its monitor thread waking every 20 µs. The init has nothing else
// to run, so its thread simply keeps the P.

func mount(source, target, fstype string, flags uintptr, data string) error {
	src, err := ptrOrNil(source)
	if err != nil {
		return err
	}
	tgt, err := unix.BytePtrFromString(target)
	if err != nil {
		return err
	}
	fs, err := ptrOrNil(fstype)
	if err != nil {
		return err
	}
	dat, err := ptrOrNil(data)
	if err != nil {
		return err
	}
	_, _, e := unix.RawSyscall6(unix.SYS_MOUNT, uintptr(unsafe.Pointer(src)), uintptr(unsafe.Pointer(tgt)),
		uintptr(unsafe.Pointer(fs)), flags, uintptr(unsafe.Pointer(dat)), 0)
	return errno(e)
}

func unmount(target string, flags int) error {
	tgt, err := unix.BytePtrFromString(target)
	if err != nil {
		return err
	}
	_, _, e := unix.RawSyscall(unix.SYS_UMOUNT2, uintptr(unsafe.Pointer(tgt)), uintptr(flags), 0)
	return errno(e)
}

func mountSetattr(dirfd int, path string, flags uint, attr *unix.MountAttr) error {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return err
	}
	_, _, e := unix.RawSyscall6(unix.SYS_MOUNT_SETATTR, uintptr(dirfd), uintptr(unsafe.Pointer(p)), uintptr(flags),
		uintptr(unsafe.Pointer(attr)), unsafe.Sizeof(*attr), 0)
	return errno(e)
}

func pivotRoot(newroot, putold string) error {
	n, err := unix.BytePtrFromString(newroot)
	if err != nil {
		return err
	}
	o, err := unix.BytePtrFromString(putold)
	if err != nil {
		return err
	}
	_, _, e := unix.RawSyscall(unix.SYS_PIVOT_ROOT, uintptr(unsafe.Pointer(n)), uintptr(unsafe.Pointer(o)), 0)
	return errno(e)
}

// ptrOrNil passes "" as NULL, as mount(2) takes for unused arguments.
func ptrOrNil(s string) (*byte, error) {
	if s == "" {
		return nil, nil
	}
	return unix.BytePtrFromString(s)
}

func errno(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}
