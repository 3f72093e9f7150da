// Package exeseal gives berth-oci a copy of its own executable that a
// container cannot write to. A process inside a container can reach the
// runtime's binary through /proc/<pid>/exe while the runtime re-executes
// itself into the container (the CVE-2019-5736 class); executing from a
// detached read-only bind mount (or, on older kernels, a sealed memfd) means
// a reopen of that link for writing fails.
package exeseal

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// Open returns an fd of the running executable that is safe to execute
// into a container. The caller execs /proc/self/fd/<fd> and closes it after.
func Open() (*os.File, error) { return OpenPath("/proc/self/exe") }

// OpenPath is Open for another executable (berth-oci's init binary).
func OpenPath(path string) (*os.File, error) {
	if f, err := roBind(path); err == nil {
		return f, nil
	}
	return sealedCopy(path)
}

// roBind clones a bind mount of path, detached from every mount
// namespace, and makes it read-only. Nothing is mounted where others see it.
func roBind(path string) (*os.File, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, path, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("open_tree: %w", err)
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &attr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("mount_setattr: %w", err)
	}
	return os.NewFile(uintptr(fd), "berth-oci (ro)"), nil
}

// sealedCopy copies the binary into a memfd and seals it against writes.
func sealedCopy(path string) (*os.File, error) {
	src, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	fd, err := unix.MemfdCreate("berth-oci", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	dst := os.NewFile(uintptr(fd), "berth-oci (memfd)")
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return nil, fmt.Errorf("copy executable: %w", err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(dst.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		dst.Close()
		return nil, fmt.Errorf("seal executable: %w", err)
	}
	return dst, nil
}
