package specgen

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
)

// hostDevDir is where --privileged finds the host's devices; a variable
// for tests.
var hostDevDir = "/dev"

func devRule(typ string, major, minor int64, access string) specs.LinuxDeviceCgroup {
	r := specs.LinuxDeviceCgroup{Allow: true, Type: typ, Access: access}
	if major >= 0 {
		r.Major = ptr(major)
	}
	if minor >= 0 {
		r.Minor = ptr(minor)
	}
	return r
}

// defaultDeviceRules is Docker's device cgroup: deny everything, allow
// creating any node (using one still needs a rule), and allow the standard
// character devices a container's /dev has.
func defaultDeviceRules() []specs.LinuxDeviceCgroup {
	return []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		devRule("c", -1, -1, "m"),
		devRule("b", -1, -1, "m"),
		devRule("c", 1, 3, "rwm"),    // /dev/null
		devRule("c", 1, 5, "rwm"),    // /dev/zero
		devRule("c", 1, 7, "rwm"),    // /dev/full
		devRule("c", 1, 8, "rwm"),    // /dev/random
		devRule("c", 1, 9, "rwm"),    // /dev/urandom
		devRule("c", 5, 0, "rwm"),    // /dev/tty
		devRule("c", 5, 1, "rwm"),    // /dev/console
		devRule("c", 5, 2, "rwm"),    // /dev/ptmx
		devRule("c", 136, -1, "rwm"), // /dev/pts/*
	}
}

// devices returns the device nodes to create and the device cgroup rules.
// A privileged container gets every host device and no restriction.
func devices(o Options) ([]specs.LinuxDevice, []specs.LinuxDeviceCgroup, error) {
	var nodes []specs.LinuxDevice
	var rules []specs.LinuxDeviceCgroup
	if o.Privileged {
		host, err := hostDevices(hostDevDir)
		if err != nil {
			return nil, nil, err
		}
		nodes = host
		rules = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
	} else {
		rules = defaultDeviceRules()
	}
	for _, d := range o.Devices {
		found, perms, err := userDevice(d)
		if err != nil {
			return nil, nil, err
		}
		for _, n := range found {
			// A mapping replaces a host device at the same path.
			replaced := false
			for i := range nodes {
				if nodes[i].Path == n.Path {
					nodes[i], replaced = n, true
				}
			}
			if !replaced {
				nodes = append(nodes, n)
			}
			if !o.Privileged {
				rules = append(rules, devRule(n.Type, n.Major, n.Minor, perms))
			}
		}
	}
	return nodes, rules, nil
}

func validPerms(p string) bool {
	if p == "" || len(p) > 3 {
		return false
	}
	for _, c := range p {
		if !strings.ContainsRune("rwm", c) || strings.Count(p, string(c)) > 1 {
			return false
		}
	}
	return true
}

// userDevice resolves one --device: a node, or a directory whose nodes are
// all mapped below PathInContainer.
func userDevice(d Device) ([]specs.LinuxDevice, string, error) {
	perms := d.CgroupPermissions
	if perms == "" {
		perms = "rwm"
	}
	if !validPerms(perms) {
		return nil, "", errdefs.InvalidArgument("invalid device cgroup permissions %q for %s: use any of r, w and m", perms, d.PathOnHost)
	}
	if !filepath.IsAbs(d.PathOnHost) {
		return nil, "", errdefs.InvalidArgument("device %q: the host path must be absolute", d.PathOnHost)
	}
	dst := d.PathInContainer
	if dst == "" {
		dst = d.PathOnHost
	}
	if !path.IsAbs(dst) {
		return nil, "", errdefs.InvalidArgument("device %q: the path in the container %q must be absolute", d.PathOnHost, dst)
	}
	dst = path.Clean(dst)
	// A link such as /dev/disk/by-id/... names the node it points to;
	// inside a directory, links are not followed.
	src, err := filepath.EvalSymlinks(d.PathOnHost)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, "", errdefs.InvalidArgument("device %q: %v", d.PathOnHost, err)
	}
	if err != nil {
		src = filepath.Clean(d.PathOnHost)
	}
	fi, err := os.Stat(src)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", errdefs.InvalidArgument("error gathering device information while adding custom device %q: no such file or directory", d.PathOnHost)
	}
	if err != nil {
		return nil, "", errdefs.InvalidArgument("device %q: %v", d.PathOnHost, err)
	}
	if !fi.IsDir() {
		n, ok, err := deviceNode(src, dst)
		if err != nil {
			return nil, "", err
		}
		if !ok {
			return nil, "", errdefs.InvalidArgument("device %q is not a character or block device", d.PathOnHost)
		}
		return []specs.LinuxDevice{n}, perms, nil
	}
	var out []specs.LinuxDevice
	err = filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return nil // unreadable parts are skipped, as Docker does
		}
		rel, _ := filepath.Rel(src, p)
		n, ok, err := deviceNode(p, path.Join(dst, filepath.ToSlash(rel)))
		if err == nil && ok {
			out = append(out, n)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return out, perms, nil
}

// deviceNode describes the node at host path p, to appear at dst; ok is
// false when p is not a character or block device.
func deviceNode(p, dst string) (specs.LinuxDevice, bool, error) {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return specs.LinuxDevice{}, false, errdefs.InvalidArgument("device %q: %v", p, err)
	}
	var typ string
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		typ = "c"
	case unix.S_IFBLK:
		typ = "b"
	default:
		return specs.LinuxDevice{}, false, nil
	}
	mode := os.FileMode(st.Mode & 0o777)
	return specs.LinuxDevice{
		Path:     dst,
		Type:     typ,
		Major:    int64(unix.Major(uint64(st.Rdev))),
		Minor:    int64(unix.Minor(uint64(st.Rdev))),
		FileMode: &mode,
		UID:      ptr(st.Uid),
		GID:      ptr(st.Gid),
	}, true, nil
}

// hostDevices lists the host's character and block devices for a
// privileged container, leaving out what the runtime mounts itself (pts,
// shm, mqueue), the console, and tool-private directories.
func hostDevices(dir string) ([]specs.LinuxDevice, error) {
	var out []specs.LinuxDevice
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if p == dir {
				return err
			}
			return nil
		}
		if e.IsDir() {
			switch e.Name() {
			case "pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev":
				if p != dir {
					return fs.SkipDir
				}
			}
			return nil
		}
		if e.Name() == "console" || e.Type()&fs.ModeDevice == 0 {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		n, ok, err := deviceNode(p, path.Join("/dev", filepath.ToSlash(rel)))
		if err == nil && ok {
			out = append(out, n)
		}
		return nil
	})
	if err != nil {
		return nil, errdefs.Internal("list host devices: %v", err)
	}
	return out, nil
}
