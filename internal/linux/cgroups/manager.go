package cgroups

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
)

// destroyWait bounds how long Destroy retries a cgroup the kernel still
// reports busy (its last tasks are exiting).
const destroyWait = time.Second

// Create makes the container's cgroup on every hierarchy (mkdir -p; on v1
// every mounted hierarchy, named ones included; in the hybrid layout also
// the cgroup2 directory) and applies r, which may be nil. On v2 the
// controllers available at each ancestor are enabled in its
// cgroup.subtree_control. On failure, directories it made are removed.
func (m *Manager) Create(r *specs.LinuxResources) (err error) {
	if err := Validate(r); err != nil {
		return err
	}
	if m.version == 1 && r != nil && len(r.Unified) > 0 {
		return errUnifiedOnV1()
	}
	start := len(m.created)
	defer func() {
		if err != nil {
			m.rollback(start)
		}
	}()
	hugetlbOnV2 := r != nil && len(r.HugepageLimits) > 0 && m.index("hugetlb") == m.unified
	for i := range m.dirs {
		d := &m.dirs[i]
		newLevels, err := m.mkdirAll(d)
		if err != nil {
			return err
		}
		switch {
		case d.v2 && m.version == 2:
			err = enableControllers(d, newLevels, nil)
		case d.v2 && hugetlbOnV2:
			err = enableControllers(d, newLevels, []string{"hugetlb"})
		}
		if err != nil {
			return err
		}
	}
	return m.set(r)
}

// rollback removes the directories created since m.created[start], deepest first.
func (m *Manager) rollback(start int) {
	for i := len(m.created) - 1; i >= start; i-- {
		_ = m.src.rmdirFn(m.created[i])
	}
	m.created = m.created[:start]
}

// enableControllers writes "+ctrl ..." into cgroup.subtree_control of every
// level from the hierarchy root down to d's parent, for each controller
// available there (only those in `only`, when given). A controller the
// kernel refuses to enable is skipped; writing its files later fails with a
// clear error instead.
func enableControllers(d *cgDir, newLevels []string, only []string) error {
	var levels []string
	for p := parentDir(d.dir); ; p = parentDir(p) {
		levels = append(levels, p)
		if len(p) <= len(d.mount) {
			break
		}
	}
	var avail []string
	for i := len(levels) - 1; i >= 0; i-- {
		lvl := levels[i]
		var ctrls, enabled []string
		if contains(newLevels, lvl) {
			ctrls = avail
		} else {
			c, err := readString(lvl, "cgroup.controllers")
			if err != nil {
				return err
			}
			e, err := readString(lvl, "cgroup.subtree_control")
			if err != nil {
				return err
			}
			ctrls, enabled = strings.Fields(c), strings.Fields(e)
		}
		var missing []string
		for _, c := range ctrls {
			if (only == nil || contains(only, c)) && !contains(enabled, c) {
				missing = append(missing, c)
			}
		}
		if len(missing) > 0 {
			if err := writeFile(lvl, "cgroup.subtree_control", "+"+strings.Join(missing, " +")); err == nil {
				enabled = append(enabled, missing...)
			} else {
				for _, c := range missing {
					if writeFile(lvl, "cgroup.subtree_control", "+"+c) == nil {
						enabled = append(enabled, c)
					}
				}
			}
		}
		avail = enabled
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Apply moves pid into the container's cgroup on every hierarchy.
func (m *Manager) Apply(pid int) error {
	if pid <= 0 {
		return errdefs.InvalidArgument("cgroups: invalid pid %d", pid)
	}
	s := strconv.Itoa(pid)
	for _, d := range m.dirs {
		if err := writeFile(d.dir, "cgroup.procs", s); err != nil {
			return err
		}
	}
	return nil
}

// Set (re)applies r; only what r sets is written. Used by `update`.
func (m *Manager) Set(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	if err := Validate(r); err != nil {
		return err
	}
	return m.set(r)
}

func (m *Manager) set(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	if m.version == 2 {
		return m.setV2(r)
	}
	return m.setV1(r)
}

// Destroy removes the container's cgroup on every hierarchy, child cgroups
// first, retrying briefly while the kernel reports it busy; then the parent
// directories this Manager created, if they are empty. Missing directories
// are not an error.
func (m *Manager) Destroy() error {
	deadline := time.Now().Add(destroyWait)
	var errs []error
	for _, d := range m.dirs {
		if err := m.removeTree(d.dir, deadline); err != nil {
			errs = append(errs, err)
		}
	}
	for i := len(m.created) - 1; i >= 0; i-- {
		p := m.created[i]
		if m.isLeaf(p) {
			continue
		}
		_ = m.src.rmdirFn(p) // shared parents may still be in use; leave them
	}
	m.created = nil
	return errors.Join(errs...)
}

func (m *Manager) isLeaf(p string) bool {
	for _, d := range m.dirs {
		if d.dir == p {
			return true
		}
	}
	return false
}

// Pids lists every process in the container's cgroup and its sub-cgroups.
func (m *Manager) Pids() ([]int, error) {
	dir := m.pidsDir()
	if dir == "" {
		return nil, errNoCgroups
	}
	var out []int
	if err := collectPids(dir, &out); err != nil {
		if isNotExist(err) {
			return nil, fmt.Errorf("cgroups: %s: %w", dir, errdefs.ErrNotFound)
		}
		return nil, err
	}
	return out, nil
}

// pidsDir picks one hierarchy to list processes from.
func (m *Manager) pidsDir() string {
	if m.version == 2 {
		return m.dirs[m.unified].dir
	}
	for _, c := range [...]string{"pids", "freezer", "memory", "devices", "cpu", "cpuacct", "name=systemd"} {
		if d := m.Path(c); d != "" {
			return d
		}
	}
	if len(m.dirs) > 0 {
		return m.dirs[0].dir
	}
	return ""
}

func collectPids(dir string, out *[]int) error {
	b, err := readAll(dir + "/cgroup.procs")
	if err != nil {
		return err
	}
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			*out = append(*out, pid)
		}
	}
	kids, err := subdirs(dir)
	if err != nil {
		return err
	}
	for _, k := range kids {
		if err := collectPids(k, out); err != nil && !errors.Is(err, unix.ENOENT) {
			return err
		}
	}
	return nil
}

func errUnifiedOnV1() error {
	return errdefs.InvalidArgument("linux.resources.unified: cgroup v2 settings given, but the host runs cgroup v1")
}
