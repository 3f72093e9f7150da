package snapshot

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// mountOverlayLong mounts an overlay whose options do not fit in the one
// page mount(2) accepts, through fsopen/fsconfig: every lower layer is added
// alone with "lowerdir+" (Linux 6.8 and later), so only the kernel's own
// layer limit applies.
func mountOverlayLong(source, target string, o mountOptions) error {
	fail := func(step string, err error) error {
		return fmt.Errorf("mount overlay on %s (%d bytes of options, %s): %w", target, len(strings.Join(o.data, ",")), step, err)
	}
	fd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fail("fsopen", err)
	}
	defer unix.Close(fd)
	if err := unix.FsconfigSetString(fd, "source", source); err != nil {
		return fail("source", err)
	}
	for _, opt := range o.data {
		key, value, hasValue := strings.Cut(opt, "=")
		switch {
		case key == "lowerdir":
			for _, dir := range strings.Split(value, ":") {
				if err := unix.FsconfigSetString(fd, "lowerdir+", dir); err != nil {
					return fail("lowerdir+ "+dir+" (needs Linux 6.8)", err)
				}
			}
		case hasValue:
			err = unix.FsconfigSetString(fd, key, value)
		default:
			err = unix.FsconfigSetFlag(fd, key)
		}
		if err != nil {
			return fail(opt, err)
		}
	}
	if err := unix.FsconfigCreate(fd); err != nil {
		return fail("create", err)
	}
	var attrs int
	if o.flags&unix.MS_RDONLY != 0 {
		attrs |= unix.MOUNT_ATTR_RDONLY
	}
	if o.flags&unix.MS_NOSUID != 0 {
		attrs |= unix.MOUNT_ATTR_NOSUID
	}
	if o.flags&unix.MS_NODEV != 0 {
		attrs |= unix.MOUNT_ATTR_NODEV
	}
	if o.flags&unix.MS_NOEXEC != 0 {
		attrs |= unix.MOUNT_ATTR_NOEXEC
	}
	mfd, err := unix.Fsmount(fd, unix.FSMOUNT_CLOEXEC, attrs)
	if err != nil {
		return fail("fsmount", err)
	}
	defer unix.Close(mfd)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fail("move_mount", err)
	}
	return nil
}
