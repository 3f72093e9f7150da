package rootfs

import (
	"errors"
	"fmt"
	"os"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Pivot makes root the process's root directory and detaches the old one.
// pivot_root(".", ".") stacks the old root on top of the new one, so it can
// be unmounted without a directory inside the container to hold it.
func Pivot(root string, noPivot bool) error {
	if noPivot {
		return moveRoot(root)
	}
	oldroot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(oldroot)
	newroot, err := unix.Open(root, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(newroot)
	if err := unix.Fchdir(newroot); err != nil {
		return err
	}
	if err := pivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root %s: %w", root, err)
	}
	if err := unix.Fchdir(oldroot); err != nil {
		return err
	}
	// The unmount must not propagate to the host.
	if err := mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return err
	}
	if err := unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmount old root: %w", err)
	}
	return unix.Chdir("/")
}

// moveRoot is --no-pivot: for roots that cannot be pivoted (ramfs).
func moveRoot(root string) error {
	if err := unix.Chdir(root); err != nil {
		return err
	}
	if err := mount(root, "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move rootfs: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return err
	}
	return unix.Chdir("/")
}

// Chroot is for a container without a mount namespace: nothing may be
// mounted, so the rootfs is only made the root directory.
func Chroot(root string) error {
	if err := unix.Chroot(root); err != nil {
		return fmt.Errorf("chroot %s: %w", root, err)
	}
	return unix.Chdir("/")
}

// Finish runs after the pivot: the root's propagation, masked and
// read-only paths, then the read-only root.
func Finish(spec *specs.Spec) error {
	if l := spec.Linux; l != nil && l.RootfsPropagation != "" {
		// Only now: pivot_root refuses a shared new root.
		if err := mount("", "/", "", propagationOpts[l.RootfsPropagation], ""); err != nil {
			return fmt.Errorf("linux.rootfsPropagation %s: %w", l.RootfsPropagation, err)
		}
	}
	if l := spec.Linux; l != nil {
		for _, p := range l.MaskedPaths {
			if err := mask(p); err != nil {
				return fmt.Errorf("mask %s: %w", p, err)
			}
		}
		for _, p := range l.ReadonlyPaths {
			if err := readonly(p); err != nil {
				return fmt.Errorf("make %s read-only: %w", p, err)
			}
		}
	}
	if spec.Root != nil && spec.Root.Readonly {
		if err := remountBind("/", unix.MS_RDONLY); err != nil {
			return fmt.Errorf("read-only rootfs: %w", err)
		}
	}
	return nil
}

func mask(p string) error {
	fi, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return mount("tmpfs", p, "tmpfs", unix.MS_RDONLY, "size=0k")
	}
	return mount("/dev/null", p, "", unix.MS_BIND, "")
}

func readonly(p string) error {
	err := mount(p, p, "", unix.MS_BIND|unix.MS_REC, "")
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return remountBind(p, unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC)
}
