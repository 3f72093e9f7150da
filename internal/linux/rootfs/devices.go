package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// DefaultDevices are the nodes every container gets (runtime spec, "Default Devices").
var DefaultDevices = []specs.LinuxDevice{
	{Path: "/dev/null", Type: "c", Major: 1, Minor: 3},
	{Path: "/dev/zero", Type: "c", Major: 1, Minor: 5},
	{Path: "/dev/full", Type: "c", Major: 1, Minor: 7},
	{Path: "/dev/random", Type: "c", Major: 1, Minor: 8},
	{Path: "/dev/urandom", Type: "c", Major: 1, Minor: 9},
	{Path: "/dev/tty", Type: "c", Major: 5, Minor: 0},
}

// devBound reports whether the spec binds the host's /dev, in which case
// the nodes are already there.
func (s *Setup) devBound() bool {
	for _, m := range s.Spec.Mounts {
		if filepath.Clean(m.Destination) == "/dev" && (m.Type == "bind" || ParseOptions(m.Options).Bind) {
			return true
		}
	}
	return false
}

func (s *Setup) makeDevices() error {
	if s.devBound() {
		return nil
	}
	var devs []specs.LinuxDevice
	seen := map[string]bool{}
	if s.Spec.Linux != nil {
		for _, d := range s.Spec.Linux.Devices {
			devs = append(devs, d)
			seen[filepath.Clean(d.Path)] = true
		}
	}
	for _, d := range DefaultDevices {
		if !seen[d.Path] {
			mode := os.FileMode(0o666)
			d.FileMode = &mode
			devs = append(devs, d)
		}
	}
	old := unix.Umask(0)
	defer unix.Umask(old)
	for _, d := range devs {
		if err := s.makeDevice(d); err != nil {
			return fmt.Errorf("device %s: %w", d.Path, err)
		}
	}
	if s.roDev {
		if err := remountBind(filepath.Join(s.Root, "dev"), unix.MS_RDONLY|unix.MS_NOSUID); err != nil {
			return err
		}
	}
	return nil
}

func (s *Setup) makeDevice(d specs.LinuxDevice) error {
	target, err := s.secure(d.Path)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	if s.NewUserNS {
		// mknod is not allowed in a user namespace: bind the host's node.
		if err := makeMountpoint(target, false); err != nil {
			return err
		}
		return mount(d.Path, target, "", unix.MS_BIND, "")
	}
	mode := uint32(0o666)
	if d.FileMode != nil {
		mode = uint32(d.FileMode.Perm())
	}
	switch d.Type {
	case "c", "u":
		mode |= unix.S_IFCHR
	case "b":
		mode |= unix.S_IFBLK
	case "p":
		mode |= unix.S_IFIFO
	default:
		return fmt.Errorf("unknown type %q", d.Type)
	}
	err = unix.Mknod(target, mode, int(unix.Mkdev(uint32(d.Major), uint32(d.Minor))))
	if errors.Is(err, unix.EEXIST) {
		// An image may ship a placeholder; replace it with the real node.
		if err = os.Remove(target); err == nil {
			err = unix.Mknod(target, mode, int(unix.Mkdev(uint32(d.Major), uint32(d.Minor))))
		}
	}
	if err != nil {
		return err
	}
	uid, gid := 0, 0
	if d.UID != nil {
		uid = int(*d.UID)
	}
	if d.GID != nil {
		gid = int(*d.GID)
	}
	if err := unix.Lchown(target, uid, gid); err != nil {
		return err
	}
	return unix.Chmod(target, mode&0o7777)
}

func (s *Setup) devLinks() error {
	links := [][2]string{
		{"/proc/self/fd", "/dev/fd"},
		{"/proc/self/fd/0", "/dev/stdin"},
		{"/proc/self/fd/1", "/dev/stdout"},
		{"/proc/self/fd/2", "/dev/stderr"},
	}
	if _, err := os.Stat(filepath.Join(s.Root, "dev/pts/ptmx")); err == nil {
		links = append(links, [2]string{"pts/ptmx", "/dev/ptmx"})
	}
	if _, err := os.Lstat(filepath.Join(s.Root, "proc/kcore")); err == nil {
		links = append(links, [2]string{"/proc/kcore", "/dev/core"})
	}
	for _, l := range links {
		target, err := s.secure(l[1])
		if err != nil {
			return err
		}
		if l[1] == "/dev/ptmx" {
			// The default devices do not include ptmx, but an image may.
			_ = os.Remove(target)
		}
		if err := os.Symlink(l[0], target); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("link %s: %w", l[1], err)
		}
	}
	return nil
}
