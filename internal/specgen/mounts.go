package specgen

import (
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/errdefs"
)

// defaultMounts are the filesystems every container gets, parents first.
func defaultMounts(o Options, ns nsInfo, sec securityOpts) ([]specs.Mount, error) {
	shm := o.ShmSize
	switch {
	case shm < 0:
		return nil, errdefs.InvalidArgument("SHM size can not be less than 0")
	case shm == 0:
		shm = DefaultShmSize
	}
	sysOpts := []string{"nosuid", "noexec", "nodev", "ro"}
	cgroupOpts := []string{"nosuid", "noexec", "nodev", "relatime", "ro"}
	if o.Privileged {
		sysOpts = []string{"nosuid", "noexec", "nodev", "rw"}
	}
	if o.Privileged || sec.writableCgroups {
		cgroupOpts = []string{"nosuid", "noexec", "nodev", "relatime", "rw"}
	}
	m := []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: sysOpts},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: cgroupOpts},
	}
	switch {
	case ns.ipcHost:
		// The host's IPC namespace comes with the host's shm and queues
		// (an mqueue filesystem shows its IPC namespace's queues, and the
		// host may have none mounted).
		m = append(m,
			specs.Mount{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			specs.Mount{Destination: "/dev/shm", Type: "bind", Source: "/dev/shm", Options: []string{"rbind", "nosuid", "noexec", "nodev"}},
		)
	default:
		m = append(m, specs.Mount{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}})
		if !ns.ipcNone {
			m = append(m, specs.Mount{Destination: "/dev/shm", Type: "tmpfs", Source: "shm",
				Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=" + strconv.FormatInt(shm, 10)}})
		}
	}
	// The files the caller wrote for networking.
	for _, f := range []struct{ src, dst string }{
		{o.HostsPath, "/etc/hosts"}, {o.HostnamePath, "/etc/hostname"}, {o.ResolvConfPath, "/etc/resolv.conf"},
	} {
		if f.src == "" {
			continue
		}
		if !path.IsAbs(f.src) {
			return nil, errdefs.InvalidArgument("%s source %q is not an absolute path", f.dst, f.src)
		}
		opts := []string{"rbind", "rprivate"}
		if o.ReadOnly {
			opts = append(opts, "ro")
		}
		m = append(m, specs.Mount{Destination: f.dst, Type: "bind", Source: f.src, Options: opts})
	}
	if o.Init {
		m = append(m, specs.Mount{Destination: InitDestination, Type: "bind", Source: o.InitPath, Options: []string{"bind", "ro", "rprivate"}})
	}
	return m, nil
}

// mounts lays out the container's mounts: Docker's defaults, then the
// user's. A user mount replaces a default at the same place (a user /dev
// replaces everything under /dev too), two user mounts at one place are an
// error, and a stable sort by depth mounts parents before children.
func mounts(o Options, ns nsInfo, sec securityOpts) ([]specs.Mount, string, error) {
	defaults, err := defaultMounts(o, ns, sec)
	if err != nil {
		return nil, "", err
	}
	user, rootProp, err := userMounts(o)
	if err != nil {
		return nil, "", err
	}
	taken := map[string]bool{}
	for _, m := range user {
		taken[m.Destination] = true
	}
	out := make([]specs.Mount, 0, len(defaults)+len(user))
	for _, m := range defaults {
		if taken[m.Destination] || (taken["/dev"] && strings.HasPrefix(m.Destination, "/dev/")) {
			continue
		}
		out = append(out, m)
	}
	out = append(out, user...)
	slices.SortStableFunc(out, func(a, b specs.Mount) int {
		return depth(a.Destination) - depth(b.Destination)
	})
	return out, rootProp, nil
}

func depth(p string) int {
	if p == "/" {
		return 0
	}
	return strings.Count(p, "/")
}

// destination checks and cleans a mount destination.
func destination(d string) (string, error) {
	if d == "" {
		return "", errdefs.InvalidArgument("invalid mount: the destination is empty")
	}
	if !path.IsAbs(d) {
		return "", errdefs.InvalidArgument("invalid mount destination %q: it must be an absolute path", d)
	}
	if strings.IndexByte(d, 0) >= 0 {
		return "", errdefs.InvalidArgument("invalid mount destination %q", d)
	}
	c := path.Clean(d)
	if c == "/" {
		return "", errdefs.InvalidArgument("invalid mount destination %q: it can't be '/'", d)
	}
	return c, nil
}

var propagations = map[string]bool{
	"private": true, "rprivate": true, "shared": true, "rshared": true, "slave": true, "rslave": true,
	"unbindable": true, "runbindable": true,
}

// bindFlags are the mount(8) flags a bind mount may carry.
var bindFlags = map[string]bool{
	"ro": true, "rw": true, "bind": true, "rbind": true, "nosuid": true, "suid": true, "nodev": true,
	"dev": true, "noexec": true, "exec": true, "sync": true, "async": true, "atime": true,
	"noatime": true, "relatime": true, "norelatime": true, "strictatime": true,
	"nostrictatime": true, "diratime": true, "nodiratime": true, "dirsync": true, "rro": true,
	"rrw": true, "rnosuid": true, "rsuid": true, "rnodev": true, "rdev": true, "rnoexec": true,
	"rexec": true, "rnoatime": true, "ratime": true, "rrelatime": true, "rnorelatime": true,
	"rstrictatime": true, "rnostrictatime": true, "rnodiratime": true, "rdiratime": true,
}

// ignoredFlags are Docker volume options that mean nothing to the runtime:
// SELinux relabelling, volume copy-up, and macOS consistency hints.
var ignoredFlags = map[string]bool{
	"z": true, "Z": true, "nocopy": true, "copy": true, "consistent": true, "cached": true, "delegated": true,
}

func userMounts(o Options) ([]specs.Mount, string, error) {
	var out []specs.Mount
	seen := map[string]bool{}
	rootProp := ""
	add := func(m specs.Mount) error {
		if seen[m.Destination] {
			return errdefs.InvalidArgument("duplicate mount point: %s", m.Destination)
		}
		seen[m.Destination] = true
		out = append(out, m)
		return nil
	}
	for _, um := range o.Mounts {
		dst, err := destination(um.Destination)
		if err != nil {
			return nil, "", err
		}
		switch um.Type {
		case "bind", "volume", "":
			m, prop, err := bindMount(um, dst)
			if err != nil {
				return nil, "", err
			}
			// Shared or slave binds need the rootfs to propagate events
			// too, or nothing would reach them.
			switch prop {
			case "shared", "rshared":
				rootProp = "rshared"
			case "slave", "rslave":
				if rootProp != "rshared" {
					rootProp = "rslave"
				}
			}
			if err := add(m); err != nil {
				return nil, "", err
			}
		case "tmpfs":
			opts := slices.Clone(um.Options)
			if um.ReadOnly {
				opts = append(opts, "ro")
			}
			m, err := tmpfsMount(dst, opts)
			if err != nil {
				return nil, "", err
			}
			if err := add(m); err != nil {
				return nil, "", err
			}
		default:
			return nil, "", errdefs.InvalidArgument("invalid mount type %q for %s", um.Type, dst)
		}
	}
	// Tmpfs map entries, in a stable order.
	keys := make([]string, 0, len(o.Tmpfs))
	for k := range o.Tmpfs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		dst, err := destination(k)
		if err != nil {
			return nil, "", err
		}
		var opts []string
		if v := o.Tmpfs[k]; v != "" {
			opts = strings.Split(v, ",")
		}
		m, err := tmpfsMount(dst, opts)
		if err != nil {
			return nil, "", err
		}
		if err := add(m); err != nil {
			return nil, "", err
		}
	}
	return out, rootProp, nil
}

func bindMount(um Mount, dst string) (specs.Mount, string, error) {
	if !path.IsAbs(um.Source) || strings.IndexByte(um.Source, 0) >= 0 {
		return specs.Mount{}, "", errdefs.InvalidArgument("invalid mount source %q for %s: it must be an absolute host path", um.Source, dst)
	}
	prop := ""
	var opts []string
	recursive := true
	readOnly := um.ReadOnly
	for _, opt := range um.Options {
		switch {
		case ignoredFlags[opt]:
		case propagations[opt]:
			prop = opt
		case opt == "bind":
			recursive = false
		case opt == "rbind":
			recursive = true
		case opt == "ro":
			readOnly = true
		case opt == "rw":
			// the default; a ReadOnly mount stays read-only
		case bindFlags[opt]:
			opts = append(opts, opt)
		default:
			return specs.Mount{}, "", errdefs.InvalidArgument("invalid mount option %q for %s", opt, dst)
		}
	}
	if um.Propagation != "" {
		if !propagations[um.Propagation] {
			return specs.Mount{}, "", errdefs.InvalidArgument("invalid mount propagation %q for %s", um.Propagation, dst)
		}
		prop = um.Propagation
	}
	if prop == "" {
		prop = "rprivate"
	}
	first := "rbind"
	if !recursive {
		first = "bind"
	}
	all := []string{first}
	if readOnly {
		all = append(all, "ro")
	}
	all = append(all, opts...)
	all = append(all, prop)
	return specs.Mount{Destination: dst, Type: "bind", Source: path.Clean(um.Source), Options: all}, prop, nil
}

// tmpfsMount builds a tmpfs mount with Docker's default flags (noexec,
// nosuid, nodev, rprivate) merged with the user's options.
func tmpfsMount(dst string, opts []string) (specs.Mount, error) {
	merged, err := mergeTmpfsOptions(append([]string{"noexec", "nosuid", "nodev", "rprivate"}, opts...))
	if err != nil {
		return specs.Mount{}, errdefs.InvalidArgument("tmpfs %s: %v", dst, err)
	}
	return specs.Mount{Destination: dst, Type: "tmpfs", Source: "tmpfs", Options: merged}, nil
}

// tmpfsFlagGroups: flags in one group cancel each other; the last wins.
var tmpfsFlagGroups = map[string]string{
	"ro": "ro", "rw": "ro",
	"exec": "exec", "noexec": "exec",
	"suid": "suid", "nosuid": "suid",
	"dev": "dev", "nodev": "dev",
	"sync": "sync", "async": "sync",
	"atime": "atime", "noatime": "atime",
	"diratime": "diratime", "nodiratime": "diratime",
	"relatime": "relatime", "norelatime": "relatime",
	"strictatime": "strictatime", "nostrictatime": "strictatime",
	"lazytime": "lazytime", "nolazytime": "lazytime",
	"iversion": "iversion", "noiversion": "iversion",
	"mand": "mand", "nomand": "mand",
	"dirsync": "dirsync",
	"private": "prop", "rprivate": "prop", "shared": "prop", "rshared": "prop",
	"slave": "prop", "rslave": "prop", "unbindable": "prop", "runbindable": "prop",
	"tmpcopyup": "tmpcopyup",
}

var (
	tmpfsSize = regexp.MustCompile(`^[0-9]{1,20}[kKmMgGtTpPeE%]?$`)
	tmpfsNum  = regexp.MustCompile(`^[0-9]{1,20}[kKmMgGtTpPeE]?$`)
)

// tmpfsValues checks the value of each key=value option tmpfs knows.
var tmpfsValues = map[string]func(string) bool{
	"size":      tmpfsSize.MatchString,
	"nr_blocks": tmpfsNum.MatchString,
	"nr_inodes": tmpfsNum.MatchString,
	"mode": func(v string) bool {
		n, err := strconv.ParseUint(v, 8, 32)
		return err == nil && n <= 0o7777
	},
	"uid": func(v string) bool { _, ok, err := parseID(v); return ok && err == nil },
	"gid": func(v string) bool { _, ok, err := parseID(v); return ok && err == nil },
	"huge": func(v string) bool {
		switch v {
		case "never", "always", "within_size", "advise", "deny", "force":
			return true
		}
		return false
	},
	"mpol": func(v string) bool {
		// mode[=static|=relative][:nodelist]
		pol, nodes, hasNodes := strings.Cut(v, ":")
		pol, flag, hasFlag := strings.Cut(pol, "=")
		if hasFlag && flag != "static" && flag != "relative" {
			return false
		}
		switch pol {
		case "default", "local":
			return !hasNodes && !hasFlag
		case "prefer", "bind", "interleave":
			return !hasNodes || checkCpuset(nodes) == nil
		}
		return false
	},
}

// mergeTmpfsOptions validates tmpfs options and resolves conflicts: the
// later of two opposing flags (noexec, exec) or of two values for one key
// wins, in the place of the first.
func mergeTmpfsOptions(opts []string) ([]string, error) {
	var out []string
	at := map[string]int{}
	for _, raw := range opts {
		opt := strings.TrimSpace(raw)
		if opt == "" {
			continue
		}
		var group string
		if k, v, ok := strings.Cut(opt, "="); ok {
			check, known := tmpfsValues[k]
			if !known {
				return nil, errdefs.InvalidArgument("invalid tmpfs option %q", opt)
			}
			if !check(v) {
				return nil, errdefs.InvalidArgument("invalid value in tmpfs option %q", opt)
			}
			group = "=" + k
		} else {
			g, known := tmpfsFlagGroups[opt]
			if !known {
				return nil, errdefs.InvalidArgument("invalid tmpfs option %q", opt)
			}
			group = g
		}
		if i, ok := at[group]; ok {
			out[i] = opt
			continue
		}
		at[group] = len(out)
		out = append(out, opt)
	}
	return out, nil
}
