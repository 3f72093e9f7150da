package cgroups

import (
	"fmt"
	"path"
	"strings"

	"github.com/berth-dev/berth/internal/errdefs"
)

// openWith is Open with the host made injectable.
func openWith(src *source, p string, systemd bool) (*Manager, error) {
	cgPath, rel, err := resolvePath(p, systemd)
	if err != nil {
		return nil, err
	}
	// Pure v2 and an absolute path: the mount point is all we need (the
	// mount's root only matters for paths relative to our own cgroup).
	if !rel && src.unifiedAt != nil {
		if mnt := src.unifiedAt(); mnt != "" {
			return &Manager{src: src, path: cgPath, version: 2, dirs: []cgDir{{dir: mnt + cgPath, mount: mnt, v2: true}}}, nil
		}
	}
	hs, err := src.hierarchies()
	if err != nil {
		return nil, err
	}
	var (
		v1s  []hierarchy
		v2   *hierarchy
		real bool // a v1 hierarchy with a real (not name=) controller
	)
	for i := range hs {
		if hs[i].v2 {
			v2 = &hs[i]
			continue
		}
		v1s = append(v1s, hs[i])
		for _, c := range hs[i].ctrls {
			if !strings.HasPrefix(c, "name=") {
				real = true
			}
		}
	}
	var own map[string]string
	if rel {
		data, err := src.selfCgroup()
		if err != nil {
			return nil, err
		}
		own = ownCgroups(data)
	}
	m := &Manager{src: src, path: cgPath, unified: -1}
	switch {
	case real:
		m.version = 1
		for _, h := range v1s {
			d, err := hostDir(h, cgPath, rel, own)
			if err != nil {
				return nil, err
			}
			m.dirs = append(m.dirs, cgDir{dir: d, mount: h.mount, ctrls: h.ctrls})
		}
		if v2 != nil {
			d, err := hostDir(*v2, cgPath, rel, own)
			if err != nil {
				return nil, err
			}
			m.unified = len(m.dirs)
			m.dirs = append(m.dirs, cgDir{dir: d, mount: v2.mount, v2: true})
		}
	case v2 != nil:
		m.version = 2
		d, err := hostDir(*v2, cgPath, rel, own)
		if err != nil {
			return nil, err
		}
		m.unified = 0
		m.dirs = []cgDir{{dir: d, mount: v2.mount, v2: true}}
	default:
		return nil, errNoCgroups
	}
	return m, nil
}

// resolvePath turns an OCI cgroupsPath into a clean cgroup path; rel
// reports a path relative to the caller's own cgroup.
func resolvePath(p string, systemd bool) (string, bool, error) {
	if p == "" {
		return "", false, errdefs.InvalidArgument("linux.cgroupsPath: empty")
	}
	if systemd && strings.Count(p, ":") == 2 {
		sp, err := systemdPath(p)
		if err != nil {
			return "", false, err
		}
		return sp, false, nil
	}
	if strings.HasPrefix(p, "/") {
		c := path.Clean(p)
		if c == "/" {
			return "", false, errdefs.InvalidArgument("linux.cgroupsPath: %q is the hierarchy root", p)
		}
		return c, false, nil
	}
	c := path.Clean(p)
	if c == "." {
		return "", false, errdefs.InvalidArgument("linux.cgroupsPath: %q names the caller's own cgroup", p)
	}
	return c, true, nil
}

// systemdPath maps "slice:prefix:name" to the cgroupfs path systemd uses.
func systemdPath(p string) (string, error) {
	parts := strings.SplitN(p, ":", 3)
	slice, prefix, name := parts[0], parts[1], parts[2]
	if name == "" || strings.Contains(name, "/") || strings.Contains(prefix, "/") {
		return "", errdefs.InvalidArgument("linux.cgroupsPath: invalid systemd path %q (want slice:prefix:name)", p)
	}
	if slice == "" {
		slice = "system.slice"
	}
	dir, err := expandSlice(slice)
	if err != nil {
		return "", err
	}
	unit := name
	if !strings.HasSuffix(name, ".slice") {
		if prefix != "" {
			unit = prefix + "-" + name + ".scope"
		} else {
			unit = name + ".scope"
		}
	}
	return path.Join(dir, unit), nil
}

// expandSlice turns "a-b.slice" into "/a.slice/a-b.slice" ("-.slice" is the root).
func expandSlice(slice string) (string, error) {
	bad := func() (string, error) {
		return "", errdefs.InvalidArgument("linux.cgroupsPath: invalid systemd slice %q", slice)
	}
	if !strings.HasSuffix(slice, ".slice") || strings.Contains(slice, "/") {
		return bad()
	}
	stem := strings.TrimSuffix(slice, ".slice")
	if stem == "-" {
		return "/", nil
	}
	if stem == "" || strings.HasPrefix(stem, "-") || strings.HasSuffix(stem, "-") || strings.Contains(stem, "--") {
		return bad()
	}
	var b strings.Builder
	for i := 0; i < len(stem); i++ {
		if stem[i] == '-' {
			b.WriteByte('/')
			b.WriteString(stem[:i])
			b.WriteString(".slice")
		}
	}
	b.WriteByte('/')
	b.WriteString(slice)
	return b.String(), nil
}

// hostDir places the cgroup path on one mounted hierarchy.
func hostDir(h hierarchy, cgPath string, rel bool, own map[string]string) (string, error) {
	p := cgPath
	if rel {
		key := ""
		if !h.v2 {
			key = h.ctrls[0]
		}
		base, ok := own[key]
		if !ok {
			if key == "" {
				key = "cgroup2"
			}
			return "", fmt.Errorf("cgroups: the calling process has no %s cgroup in /proc/self/cgroup: %w", key, errdefs.ErrNotFound)
		}
		// Our cgroup is named relative to the hierarchy root; the mount may
		// show only a subtree of it.
		if h.root != "/" && h.root != "" {
			if base == h.root {
				base = "/"
			} else if strings.HasPrefix(base, h.root+"/") {
				base = base[len(h.root):]
			}
		}
		p = path.Join("/", base, cgPath)
	}
	if p == "/" {
		return h.mount, nil
	}
	return h.mount + p, nil
}
