// Package cgroups places one container in the host's control groups and
// drives them: it resolves the container's cgroup directories on cgroup v1
// (including the hybrid layout, v1 controllers plus a cgroup2 mount at
// /sys/fs/cgroup/unified) and on the unified cgroup v2 hierarchy, creates
// them, moves processes in, writes the OCI linux.resources limits (device
// rules as v1 allow/deny lists or as a v2 eBPF program), freezes and thaws,
// reads statistics in runc's `events --stats` shape, and removes the
// directories again.
//
// It is on the hot path of every container start, so it does only the work
// asked for: one read of /proc/self/mountinfo per Open (none for an absolute
// path on a pure v2 host, where one statfs tells the layout), /proc/self/cgroup
// only for relative paths, and no probing of controller files it does not write.
package cgroups

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
)

// cgDir is the container's directory on one hierarchy.
type cgDir struct {
	dir   string   // host path of the container's cgroup
	mount string   // host mount point of the hierarchy (dir is at or under it)
	ctrls []string // v1 controllers of the hierarchy ("cpu", "name=systemd"); nil for cgroup2
	v2    bool     // a cgroup2 hierarchy
}

func (d *cgDir) has(ctrl string) bool {
	for _, c := range d.ctrls {
		if c == ctrl {
			return true
		}
	}
	return false
}

// Manager is the cgroup of one container on every hierarchy of the host.
// It is not safe for concurrent use.
type Manager struct {
	src     *source
	path    string  // the resolved cgroup path (as given, after systemd expansion)
	version int     // 1 (also hybrid) or 2
	dirs    []cgDir // v1: one per hierarchy (plus the cgroup2 one in hybrid); v2: exactly one
	unified int     // index in dirs of the cgroup2 directory, -1 if none
	created []string
}

// Open resolves the container's cgroup path on the host's hierarchies
// without creating anything.
//
// path is the OCI linux.cgroupsPath. An absolute path ("/a/b") is taken under
// each hierarchy's root; a relative one ("a/b") under the calling process's
// own cgroup on each hierarchy (from /proc/self/cgroup). With systemd set,
// the systemd form "slice:prefix:name" is accepted and mapped to the
// cgroupfs path systemd would use ("a-b.slice:p:n" → /a.slice/a-b.slice/p-n.scope,
// empty slice → system.slice); plain paths are accepted too.
func Open(path string, systemd bool) (*Manager, error) {
	return openWith(hostSource(), path, systemd)
}

// Version reports 1 for cgroup v1 (including the hybrid layout) and 2 for
// the unified hierarchy.
func (m *Manager) Version() int { return m.version }

// CgroupPath is the container's cgroup path inside each hierarchy, after
// systemd expansion ("/system.slice/p-n.scope"); for relative paths, as given.
func (m *Manager) CgroupPath() string { return m.path }

// Path returns the host directory of the container's cgroup for a
// controller ("memory", "cpu", "systemd" or "name=systemd", ...), or "" when
// that controller has no hierarchy. On cgroup v2 every controller, and "",
// name the one unified directory; in the hybrid layout "" (and "hugetlb", if
// hugetlb is not bound to v1) names the directory on the cgroup2 mount.
func (m *Manager) Path(controller string) string {
	if i := m.index(controller); i >= 0 {
		return m.dirs[i].dir
	}
	return ""
}

// Paths maps every controller (and "" for the cgroup2 directory) to its
// host directory; suitable for a state file and for FromPaths.
func (m *Manager) Paths() map[string]string {
	out := make(map[string]string, len(m.dirs)+1)
	for _, d := range m.dirs {
		if d.v2 {
			out[""] = d.dir
			continue
		}
		for _, c := range d.ctrls {
			out[c] = d.dir
		}
	}
	return out
}

// FromPaths rebuilds a Manager from the map Paths returned (for example in
// another process, where a relative cgroups path would resolve elsewhere).
// Mount points are looked up again in /proc/self/mountinfo.
func FromPaths(paths map[string]string) (*Manager, error) {
	return fromPathsWith(hostSource(), paths)
}

// DirFD opens the unified directory with O_PATH|O_DIRECTORY, for
// clone3(CLONE_INTO_CGROUP) (SysProcAttr.UseCgroupFD). Only on cgroup v2;
// the caller closes the fd.
func (m *Manager) DirFD() (int, error) {
	if m.version != 2 {
		return -1, errdefs.FailedPrecondition("cgroups: a cgroup fd for CLONE_INTO_CGROUP needs cgroup v2 (host runs v1)")
	}
	d := m.dirs[m.unified].dir
	fd, err := unix.Open(d, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: d, Err: err}
	}
	return fd, nil
}

// index finds the dirs entry serving a controller, -1 if none.
func (m *Manager) index(controller string) int {
	if m.version == 2 {
		return m.unified
	}
	if controller == "" {
		return m.unified
	}
	if controller == "systemd" {
		controller = "name=systemd"
	}
	for i := range m.dirs {
		if m.dirs[i].has(controller) {
			return i
		}
	}
	if controller == "hugetlb" {
		return m.unified // hybrid: hugetlb lives on the cgroup2 mount
	}
	return -1
}

// dir is Path for internal use: the directory and whether it is cgroup2.
func (m *Manager) dir(controller string) (string, bool) {
	i := m.index(controller)
	if i < 0 {
		return "", false
	}
	return m.dirs[i].dir, m.dirs[i].v2
}

func fromPathsWith(src *source, paths map[string]string) (*Manager, error) {
	if len(paths) == 0 {
		return nil, errdefs.InvalidArgument("cgroups: no cgroup paths")
	}
	if dir, ok := paths[""]; ok && len(paths) == 1 && src.unifiedAt != nil {
		if mnt := src.unifiedAt(); mnt != "" && strings.HasPrefix(dir, mnt+"/") {
			return &Manager{src: src, version: 2, dirs: []cgDir{{dir: dir, mount: mnt, v2: true}}}, nil
		}
	}
	hs, err := src.hierarchies()
	if err != nil {
		return nil, err
	}
	m := &Manager{src: src, unified: -1}
	v1 := false
	byDir := map[string]int{}
	keys := make([]string, 0, len(paths))
	for k := range paths {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		dir := paths[k]
		if k != "" {
			v1 = true
		}
		if i, ok := byDir[dir]; ok {
			if k != "" {
				m.dirs[i].ctrls = append(m.dirs[i].ctrls, k)
			}
			continue
		}
		mount := ""
		for _, h := range hs {
			if (k == "") == h.v2 && (dir == h.mount || strings.HasPrefix(dir, h.mount+"/")) && len(h.mount) > len(mount) {
				mount = h.mount
			}
		}
		if mount == "" {
			return nil, fmt.Errorf("cgroups: %s (%s) is not on a mounted cgroup hierarchy: %w", dir, k, errdefs.ErrNotFound)
		}
		d := cgDir{dir: dir, mount: mount, v2: k == ""}
		if k != "" {
			d.ctrls = []string{k}
		}
		byDir[dir] = len(m.dirs)
		if d.v2 {
			m.unified = len(m.dirs)
		}
		m.dirs = append(m.dirs, d)
	}
	m.version = 2
	if v1 {
		m.version = 1
	}
	return m, nil
}

var errNoCgroups = errors.New("cgroups: no cgroup hierarchy is mounted")
