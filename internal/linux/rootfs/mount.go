package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// CgroupDir is one cgroup hierarchy as a container sees it: the directory
// name under /sys/fs/cgroup ("memory", "cpu,cpuacct", "unified") and the
// host directory of the container's own cgroup in it.
type CgroupDir struct {
	Name string
	Host string
}

// Setup describes the filesystem of one container.
type Setup struct {
	Spec    *specs.Spec
	Root    string // absolute host path of the rootfs
	Bundle  string // relative bind sources are resolved against it
	Cgroups []CgroupDir
	// CgroupV2 says the host is unified: /sys/fs/cgroup is one cgroup2 mount.
	CgroupV2  bool
	NewUserNS bool
	NewNetNS  bool
	// BeforeCgroupMount, if set, runs once before the first cgroup mount:
	// the container's cgroup directories may not exist before that.
	BeforeCgroupMount func() error

	roDev bool // /dev was asked read-only: remounted after devices are made
}

// Prepare runs before pivot_root: it makes the rootfs a private mount point,
// mounts everything the spec lists, and makes /dev.
func (s *Setup) Prepare() error {
	prop := uintptr(unix.MS_SLAVE | unix.MS_REC)
	shared := false
	if s.Spec.Linux != nil {
		switch s.Spec.Linux.RootfsPropagation {
		case "private", "rprivate":
			prop = unix.MS_PRIVATE | unix.MS_REC
		case "shared", "rshared":
			// Mounts copied from shared host mounts stay the host's peers,
			// so that a bind mount asking for rshared propagation joins
			// its source's peer group and propagates both ways. The
			// rootfs itself is made private below, so that what is
			// mounted into it does not reach the host.
			prop, shared = unix.MS_SHARED|unix.MS_REC, true
		}
	}
	// Nothing we mount below may leak back to the host; a shared or
	// unbindable rootfs is set up after the pivot (Finish).
	if err := mount("", "/", "", prop, ""); err != nil {
		return fmt.Errorf("set propagation of /: %w", err)
	}
	// pivot_root needs the new root's parent mount to be private.
	if err := makeParentPrivate(s.Root); err != nil {
		return err
	}
	if err := mount(s.Root, s.Root, "bind", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind rootfs %s: %w", s.Root, err)
	}
	if shared {
		if err := mount("", s.Root, "", unix.MS_PRIVATE|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("make rootfs %s private: %w", s.Root, err)
		}
	}
	for i := range s.Spec.Mounts {
		m := &s.Spec.Mounts[i]
		if err := s.mount(m); err != nil {
			return fmt.Errorf("mounts[%d] %s on %s: %w", i, m.Type, m.Destination, err)
		}
	}
	if err := s.makeDevices(); err != nil {
		return err
	}
	return s.devLinks()
}

// makeParentPrivate finds the mount holding dir and makes it private unless
// it is shared on purpose (rootfsPropagation shared keeps that behaviour).
func makeParentPrivate(dir string) error {
	for p := dir; ; p = filepath.Dir(p) {
		err := mount("", p, "", unix.MS_PRIVATE, "")
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EINVAL) || p == "/" {
			return fmt.Errorf("make parent mount of %s private: %w", dir, err)
		}
	}
}

// secure resolves dest inside the rootfs; symlinks cannot leave it.
func (s *Setup) secure(dest string) (string, error) {
	return securejoin.SecureJoin(s.Root, dest)
}

func (s *Setup) mount(m *specs.Mount) error {
	o := ParseOptions(m.Options)
	if m.Type == "bind" {
		o.Bind = true
	}
	target, err := s.secure(m.Destination)
	if err != nil {
		return err
	}
	switch {
	case o.Bind:
		return s.bindMount(m, o, target)
	case m.Type == "cgroup" || m.Type == "cgroup2":
		if s.BeforeCgroupMount != nil {
			if err := s.BeforeCgroupMount(); err != nil {
				return err
			}
			s.BeforeCgroupMount = nil
		}
		return s.cgroupMount(m, o, target)
	}
	if err := os.MkdirAll(target, 0o755); err != nil {
		return err
	}
	flags := o.Flags
	if m.Destination == "/dev" && flags&unix.MS_RDONLY != 0 {
		// Devices are created below; the read-only bit comes back after.
		flags &^= unix.MS_RDONLY
		s.roDev = true
	}
	sysfsFallback := false
	err = mountPinned(s.Root, target, func(at string) error {
		err := mount(m.Source, at, m.Type, flags, o.DataString())
		if err != nil && m.Type == "sysfs" && errors.Is(err, unix.EPERM) && !s.NewNetNS {
			// sysfs cannot be mounted from a user namespace that does not own
			// the network namespace; show the host's, read-only, instead.
			sysfsFallback = true
			err = mount("/sys", at, "", unix.MS_BIND|unix.MS_REC, "")
		}
		return err
	}, func(at string) error {
		if sysfsFallback {
			if err := remountBind(at, unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC); err != nil {
				return err
			}
		}
		return finishMount(at, o)
	})
	return err
}

func finishMount(target string, o Options) error {
	for _, p := range o.Propagation {
		if err := mount("", target, "", p, ""); err != nil {
			return fmt.Errorf("set propagation: %w", err)
		}
	}
	if o.AttrSet != 0 || o.AttrClr != 0 {
		attr := unix.MountAttr{Attr_set: o.AttrSet, Attr_clr: o.AttrClr}
		if err := mountSetattr(unix.AT_FDCWD, target, unix.AT_RECURSIVE, &attr); err != nil {
			return fmt.Errorf("mount_setattr: %w", err)
		}
	}
	return nil
}

func (s *Setup) bindMount(m *specs.Mount, o Options, target string) error {
	src := m.Source
	if !filepath.IsAbs(src) {
		src = filepath.Join(s.Bundle, src)
	}
	fi, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("bind source: %w", err)
	}
	if err := makeMountpoint(target, fi.IsDir()); err != nil {
		return err
	}
	flags := uintptr(unix.MS_BIND)
	if o.Recursive {
		flags |= unix.MS_REC
	}
	return mountPinned(s.Root, target, func(at string) error {
		return mount(src, at, "", flags, "")
	}, func(at string) error {
		if rest := o.Flags &^ (unix.MS_REMOUNT | unix.MS_BIND | unix.MS_REC); rest != 0 {
			if err := remountBind(at, rest); err != nil {
				return err
			}
		}
		return finishMount(at, o)
	})
}

// remountBind applies flags to a bind mount. In a user namespace the flags
// the source mount was made with are locked, so they are kept.
func remountBind(target string, flags uintptr) error {
	err := mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|flags, "")
	if errors.Is(err, unix.EPERM) {
		var st unix.Statfs_t
		if unix.Statfs(target, &st) == nil {
			locked := uintptr(st.Flags) & (unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_RDONLY |
				unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME)
			err = mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|flags|locked, "")
		}
	}
	if err != nil {
		return fmt.Errorf("remount %s: %w", target, err)
	}
	return nil
}

func makeMountpoint(target string, dir bool) error {
	if dir {
		return os.MkdirAll(target, 0o755)
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_RDONLY|unix.O_NOFOLLOW, 0o644)
	if err != nil {
		if errors.Is(err, unix.EISDIR) {
			return nil
		}
		return err
	}
	return f.Close()
}

// pin opens target without following a final symlink and checks where it
// really is; mount calls then go through /proc/self/fd/N onto exactly the
// checked inode. A path re-resolved at mount time could have been swapped
// for a symlink meanwhile (the CVE-2021-30465 class of races).
func pin(root, target string) (string, func(), error) {
	fd, err := unix.Open(target, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, err
	}
	p := "/proc/self/fd/" + strconv.Itoa(fd)
	real, err := os.Readlink(p)
	if err != nil {
		unix.Close(fd)
		return "", nil, err
	}
	if real != root && !strings.HasPrefix(real, root+"/") {
		unix.Close(fd)
		return "", nil, fmt.Errorf("mount target %s resolves outside the rootfs (%s)", target, real)
	}
	return p, func() { unix.Close(fd) }, nil
}

// mountPinned mounts onto the pinned target, then pins it again (now the
// new mount's root) for what follows: remounts, propagation, attributes.
func mountPinned(root, target string, do func(at string) error, after func(at string) error) error {
	at, done, err := pin(root, target)
	if err != nil {
		return err
	}
	err = do(at)
	done()
	if err != nil || after == nil {
		return err
	}
	at, done, err = pin(root, target)
	if err != nil {
		return err
	}
	defer done()
	return after(at)
}

func (s *Setup) cgroupMount(m *specs.Mount, o Options, target string) error {
	if err := os.MkdirAll(target, 0o755); err != nil {
		return err
	}
	ro := o.Flags&unix.MS_RDONLY != 0
	if s.CgroupV2 {
		bound := false
		return mountPinned(s.Root, target, func(at string) error {
			err := mount("cgroup2", at, "cgroup2", o.Flags, "")
			if err != nil && len(s.Cgroups) > 0 {
				// Without a cgroup namespace of our own, show only our cgroup.
				bound = true
				err = mount(s.Cgroups[0].Host, at, "", unix.MS_BIND|unix.MS_REC, "")
			}
			return err
		}, func(at string) error {
			if bound && ro {
				return remountBind(at, unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC)
			}
			return nil
		})
	}
	// cgroup v1: a tmpfs with one directory per hierarchy, each the
	// container's own cgroup bound in; flags for the whole tree are set
	// with one recursive mount_setattr instead of a remount per hierarchy.
	// The tmpfs is ours: what is made inside it cannot be raced.
	if err := mountPinned(s.Root, target, func(at string) error {
		return mount("tmpfs", at, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=755")
	}, nil); err != nil {
		return err
	}
	for _, c := range s.Cgroups {
		dir := filepath.Join(target, c.Name)
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
		if err := mount(c.Host, dir, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind cgroup %s: %w", c.Name, err)
		}
		// "cpu,cpuacct" is also reachable as "cpu" and "cpuacct".
		if strings.Contains(c.Name, ",") {
			for _, part := range strings.Split(c.Name, ",") {
				_ = os.Symlink(c.Name, filepath.Join(target, part))
			}
		}
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC}
	if ro {
		attr.Attr_set |= unix.MOUNT_ATTR_RDONLY
	}
	if err := mountSetattr(unix.AT_FDCWD, target, unix.AT_RECURSIVE, &attr); err != nil {
		return fmt.Errorf("cgroup mount flags: %w", err)
	}
	return nil
}
