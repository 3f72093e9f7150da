package cgroups

import (
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Hierarchy is one mounted cgroup hierarchy as a container's
// /sys/fs/cgroup shows it: Name is the mount's directory name ("memory",
// "cpu,cpuacct", "unified"), Dir the host directory of the container's cgroup.
type Hierarchy struct {
	Name string `json:"name"`
	Dir  string `json:"dir"`
}

// Hierarchies lists the container's directory on every hierarchy.
func (m *Manager) Hierarchies() []Hierarchy {
	out := make([]Hierarchy, 0, len(m.dirs))
	for _, d := range m.dirs {
		out = append(out, Hierarchy{Name: filepath.Base(d.mount), Dir: d.dir})
	}
	return out
}

// Unified reports whether the host runs the unified cgroup v2 hierarchy
// (one statfs; no mountinfo parsing).
func Unified() bool {
	var st unix.Statfs_t
	return unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}
