package snapshot

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Mount is one mount(2) call, in the shape of an OCI runtime-spec mount
// without its destination, so it can be handed to any runtime as well.
type Mount struct {
	Type    string // "bind" or a filesystem type such as "overlay"
	Source  string
	Options []string
}

// mountOptions is Options split into mount(2) flags and filesystem data.
type mountOptions struct {
	flags uintptr
	data  []string
}

// flagOptions are the options that are mount flags rather than filesystem
// data. Only what snapshots and their users need is here.
var flagOptions = map[string]struct {
	clear bool
	flag  uintptr
}{
	"ro":     {false, unix.MS_RDONLY},
	"rw":     {true, unix.MS_RDONLY},
	"bind":   {false, unix.MS_BIND},
	"rbind":  {false, unix.MS_BIND | unix.MS_REC},
	"nosuid": {false, unix.MS_NOSUID},
	"suid":   {true, unix.MS_NOSUID},
	"nodev":  {false, unix.MS_NODEV},
	"dev":    {true, unix.MS_NODEV},
	"noexec": {false, unix.MS_NOEXEC},
	"exec":   {true, unix.MS_NOEXEC},
}

func parseMountOptions(opts []string) mountOptions {
	var o mountOptions
	for _, opt := range opts {
		if f, ok := flagOptions[opt]; ok {
			if f.clear {
				o.flags &^= f.flag
			} else {
				o.flags |= f.flag
			}
			continue
		}
		o.data = append(o.data, opt)
	}
	return o
}

// Mount mounts m onto target.
func (m Mount) Mount(target string) error {
	o := parseMountOptions(m.Options)
	if m.Type == "bind" {
		o.flags |= unix.MS_BIND
	}
	if o.flags&unix.MS_BIND != 0 {
		return bindMount(m.Source, target, o)
	}
	data := strings.Join(o.data, ",")
	// mount(2) copies at most one page of data; overlay with many layers
	// can need more, which the new mount API takes one layer at a time.
	if len(data) >= os.Getpagesize() && m.Type == "overlay" {
		return mountOverlayLong(m.Source, target, o)
	}
	if err := unix.Mount(m.Source, target, m.Type, o.flags, data); err != nil {
		return fmt.Errorf("mount %s %s on %s: %w", m.Type, m.Source, target, err)
	}
	return nil
}

// bindMount binds source onto target. A bind ignores MS_RDONLY and the other
// per-mount flags, so they are applied by a remount afterwards.
func bindMount(source, target string, o mountOptions) error {
	if err := unix.Mount(source, target, "", o.flags&(unix.MS_BIND|unix.MS_REC), ""); err != nil {
		return fmt.Errorf("bind mount %s on %s: %w", source, target, err)
	}
	extra := o.flags &^ (unix.MS_BIND | unix.MS_REC)
	if extra == 0 {
		return nil
	}
	if err := unix.Mount("", target, "", unix.MS_REMOUNT|unix.MS_BIND|extra, ""); err != nil {
		_ = unix.Unmount(target, unix.MNT_DETACH)
		return fmt.Errorf("remount bind %s on %s: %w", source, target, err)
	}
	return nil
}

// MountAll mounts ms onto target in order, each on top of the last. On error
// it unmounts what it had mounted.
func MountAll(ms []Mount, target string) error {
	for i, m := range ms {
		if err := m.Mount(target); err != nil {
			for j := 0; j < i; j++ {
				_ = unix.Unmount(target, unix.MNT_DETACH)
			}
			return err
		}
	}
	return nil
}

// UnmountAll unmounts everything stacked on target. A target that is not a
// mount point, or does not exist, is not an error.
func UnmountAll(target string) error {
	// The bound is a guard against a target that is remounted under us.
	for range 1000 {
		err := unix.Unmount(target, 0)
		switch {
		case err == nil:
			continue
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
			return nil
		default:
			return fmt.Errorf("unmount %s: %w", target, err)
		}
	}
	return fmt.Errorf("unmount %s: still mounted after 1000 unmounts", target)
}
