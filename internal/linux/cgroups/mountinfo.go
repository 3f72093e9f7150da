package cgroups

import (
	"bytes"
	"os"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// source is where the package learns about the host: a path prefix for
// every host path (empty on a real host; a temp dir in tests) and the
// mountinfo and own-cgroup readers. The hooks exist for tests only.
type source struct {
	root       string
	unifiedAt  func() string // the cgroup2 mount at /sys/fs/cgroup, "" if not (host only)
	mountinfo  func() ([]byte, error)
	selfCgroup func() ([]byte, error)
	afterMkdir func(dir string)       // test hook: populate a fake cgroup dir
	rmdir      func(dir string) error // test hook: rmdir on a fake tree
	// test hook: stands in for loading and attaching the v2 device filter
	attachDevices func(dir string, rules []specs.LinuxDeviceCgroup) error
}

func hostSource() *source {
	return &source{
		unifiedAt:  unifiedAtSysFs,
		mountinfo:  func() ([]byte, error) { return readAll("/proc/self/mountinfo") },
		selfCgroup: func() ([]byte, error) { return readAll("/proc/self/cgroup") },
	}
}

// unifiedAtSysFs is the fast check for a pure cgroup v2 host: one statfs
// instead of reading /proc/self/mountinfo (which costs ~50 µs of kernel
// time).
func unifiedAtSysFs() string {
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return "/sys/fs/cgroup"
	}
	return ""
}

func (s *source) rmdirFn(dir string) error {
	if s.rmdir != nil {
		return s.rmdir(dir)
	}
	return rawRmdir(dir)
}

// hierarchy is one mounted cgroup hierarchy.
type hierarchy struct {
	mount string   // host path of the mount point (with source root prefix)
	root  string   // the mount's root inside the hierarchy (mountinfo field 4)
	ctrls []string // v1: controllers and "name=..." from the super options
	v2    bool
}

// hierarchies parses mountinfo once, keeping only cgroup and cgroup2
// mounts, one per hierarchy (the first seen, preferring /sys/fs/cgroup).
func (s *source) hierarchies() ([]hierarchy, error) {
	data, err := s.mountinfo()
	if err != nil {
		return nil, err
	}
	return parseMountinfo(data, s.root), nil
}

var sepDash = []byte(" - ")

func parseMountinfo(data []byte, prefix string) []hierarchy {
	var out []hierarchy
	for len(data) > 0 {
		var line []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, nil
		}
		dash := bytes.Index(line, sepDash)
		if dash < 0 {
			continue
		}
		tail := line[dash+3:] // "fstype source superopts"
		var v2 bool
		switch {
		case bytes.HasPrefix(tail, []byte("cgroup2 ")):
			v2 = true
		case bytes.HasPrefix(tail, []byte("cgroup ")):
		default:
			continue
		}
		head := strings.Fields(string(line[:dash]))
		if len(head) < 5 {
			continue
		}
		h := hierarchy{root: unescapeOctal(head[3]), mount: prefix + unescapeOctal(head[4]), v2: v2}
		if !v2 {
			tf := strings.Fields(string(tail))
			if len(tf) < 3 {
				continue
			}
			h.ctrls = v1Controllers(tf[2])
			if len(h.ctrls) == 0 {
				continue
			}
		}
		out = addHierarchy(out, h, prefix)
	}
	return out
}

// addHierarchy keeps one mount per hierarchy: a later mount of the same
// controller set replaces an earlier one only if it sits at /sys/fs/cgroup.
func addHierarchy(hs []hierarchy, h hierarchy, prefix string) []hierarchy {
	for i := range hs {
		if hs[i].v2 != h.v2 || !sameSet(hs[i].ctrls, h.ctrls) {
			continue
		}
		if !isStdMount(hs[i].mount, prefix) && isStdMount(h.mount, prefix) {
			hs[i] = h
		}
		return hs
	}
	return append(hs, h)
}

func isStdMount(mount, prefix string) bool {
	m := strings.TrimPrefix(mount, prefix)
	return m == "/sys/fs/cgroup" || strings.HasPrefix(m, "/sys/fs/cgroup/")
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		found := false
		for _, y := range b {
			if x == y {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// v1Controllers picks controller names out of cgroup v1 super options.
func v1Controllers(opts string) []string {
	var out []string
	for _, o := range strings.Split(opts, ",") {
		switch {
		case o == "rw", o == "ro", o == "noprefix", o == "clone_children", o == "xattr",
			o == "none", o == "cpuset_v2_mode", o == "favordynmods", o == "",
			strings.HasPrefix(o, "release_agent="):
		default:
			out = append(out, o)
		}
	}
	return out
}

// unescapeOctal undoes mountinfo's \ooo escapes (space, tab, newline, backslash).
func unescapeOctal(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOct(s[i+1]) && isOct(s[i+2]) && isOct(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOct(c byte) bool { return c >= '0' && c <= '7' }

// ownCgroups parses /proc/self/cgroup into controller → path; the cgroup2
// entry ("0::/x") is stored under "".
func ownCgroups(data []byte) map[string]string {
	out := make(map[string]string, 12)
	for _, line := range strings.Split(string(data), "\n") {
		// hierarchy-ID:controller-list:path
		i := strings.IndexByte(line, ':')
		if i < 0 {
			continue
		}
		rest := line[i+1:]
		j := strings.IndexByte(rest, ':')
		if j < 0 {
			continue
		}
		ctrls, p := rest[:j], rest[j+1:]
		if ctrls == "" {
			out[""] = p
			continue
		}
		for _, c := range strings.Split(ctrls, ",") {
			out[c] = p
		}
	}
	return out
}

// readAll reads a (small, possibly kernel-generated) file without going
// through os.File; it returns os.PathError on failure.
func readAll(path string) ([]byte, error) {
	fd, err := openRetry(path, unix.O_RDONLY|unix.O_CLOEXEC)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	buf := make([]byte, 0, 4096)
	for {
		if len(buf) == cap(buf) {
			nb := make([]byte, len(buf), 2*cap(buf))
			copy(nb, buf)
			buf = nb
		}
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}

func openRetry(path string, flags int) (int, error) {
	for {
		fd, err := unix.Open(path, flags, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}
