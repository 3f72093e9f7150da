package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// writeError names the file and the value that could not be written.
type writeError struct {
	path string
	val  string
	err  error
}

func (e *writeError) Error() string {
	return fmt.Sprintf("cgroups: write %q to %s: %v", strings.TrimSpace(e.val), e.path, e.err)
}
func (e *writeError) Unwrap() error { return e.err }

// traceWrite, when set (by tests), sees every write before it is made.
var traceWrite func(path, val string)

// writeFile writes val into dir/file with one write(2); cgroup files take
// one value per write.
func writeFile(dir, file, val string) error {
	p := dir + "/" + file
	if traceWrite != nil {
		traceWrite(p, val)
	}
	fd, err := openRetry(p, unix.O_WRONLY|unix.O_TRUNC|unix.O_CLOEXEC)
	if err != nil {
		return &writeError{p, val, err}
	}
	// Raw write(2): moving a process (cgroup.procs) can wait milliseconds
	// for an RCU grace period, and a regular call that long keeps the Go
	// scheduler's monitor thread spinning meanwhile.
	b := []byte(val)
	for {
		var p unsafe.Pointer
		if len(b) > 0 {
			p = unsafe.Pointer(&b[0])
		}
		_, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(p), uintptr(len(b)))
		if e == unix.EINTR {
			continue
		}
		err = nil
		if e != 0 {
			err = e
		}
		break
	}
	unix.Close(fd)
	if err != nil {
		return &writeError{p, val, err}
	}
	return nil
}

// writeOptional is writeFile that treats a missing file as success.
func writeOptional(dir, file, val string) error {
	if err := writeFile(dir, file, val); err != nil && !isNotExist(err) {
		return err
	}
	return nil
}

func readString(dir, file string) (string, error) {
	b, err := readAll(dir + "/" + file)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// readUint reads a single number; "max" reads as MaxUint64.
func readUint(dir, file string) (uint64, error) {
	s, err := readString(dir, file)
	if err != nil {
		return 0, err
	}
	return parseUint(s, dir+"/"+file)
}

func parseUint(s, where string) (uint64, error) {
	if s == "max" {
		return ^uint64(0), nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		// Some v1 counters are negative when unset (e.g. -1); treat them as 0.
		if i, err2 := strconv.ParseInt(s, 10, 64); err2 == nil && i < 0 {
			return 0, nil
		}
		return 0, fmt.Errorf("cgroups: parse %q from %s: %w", s, where, err)
	}
	return v, nil
}

func dirExists(p string) bool {
	var st unix.Stat_t
	return unix.Stat(p, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// mkdirAll creates d.dir and any missing parents below the mount point,
// recording new directories in m.created. For a cpuset hierarchy every new
// level (and any empty ancestor on the way) gets cpuset.cpus/mems from the
// nearest non-empty ancestor, so tasks can be attached.
func (m *Manager) mkdirAll(d *cgDir) (newLevels []string, err error) {
	err = rawMkdir(d.dir, 0o755)
	switch err {
	case nil:
		newLevels = []string{d.dir}
	case unix.EEXIST:
		// Someone else's directory; on cpuset it may still be unusable.
		if d.has("cpuset") {
			if cpus, err := readString(d.dir, "cpuset.cpus"); err == nil && cpus == "" {
				return nil, fillCpuset(d.mount, d.dir)
			}
		}
		return nil, nil
	case unix.ENOENT:
		// Find the missing levels, top-down.
		var missing []string
		for p := d.dir; len(p) > len(d.mount); p = parentDir(p) {
			if _, serr := os.Lstat(p); serr == nil {
				break
			}
			missing = append(missing, p)
		}
		for i := len(missing) - 1; i >= 0; i-- {
			if err := rawMkdir(missing[i], 0o755); err != nil && err != unix.EEXIST {
				return newLevels, &os.PathError{Op: "mkdir", Path: missing[i], Err: err}
			} else if err == nil {
				newLevels = append(newLevels, missing[i])
			}
		}
	default:
		return nil, &os.PathError{Op: "mkdir", Path: d.dir, Err: err}
	}
	m.created = append(m.created, newLevels...)
	if m.src.afterMkdir != nil {
		for _, l := range newLevels {
			m.src.afterMkdir(l)
		}
	}
	if len(newLevels) > 0 && d.has("cpuset") {
		if err := fillCpuset(d.mount, newLevels[0]); err != nil {
			return newLevels, err
		}
		for _, l := range newLevels[1:] {
			if err := copyCpuset(parentDir(l), l); err != nil {
				return newLevels, err
			}
		}
	}
	return newLevels, nil
}

// fillCpuset makes dir's cpus and mems non-empty, first fixing empty
// ancestors (top-down) from the nearest non-empty one.
func fillCpuset(mount, dir string) error {
	chain := []string{dir}
	p := parentDir(dir)
	for ; len(p) > len(mount); p = parentDir(p) {
		cpus, err1 := readString(p, "cpuset.cpus")
		mems, err2 := readString(p, "cpuset.mems")
		if err1 == nil && err2 == nil && cpus != "" && mems != "" {
			break
		}
		chain = append(chain, p)
	}
	for i := len(chain) - 1; i >= 0; i-- {
		if err := copyCpuset(parentDir(chain[i]), chain[i]); err != nil {
			return err
		}
	}
	return nil
}

func copyCpuset(from, to string) error {
	for _, f := range [...]string{"cpuset.cpus", "cpuset.mems"} {
		v, err := readString(from, f)
		if err != nil {
			return err
		}
		if v == "" {
			continue
		}
		if err := writeFile(to, f, v); err != nil {
			return err
		}
	}
	return nil
}

func parentDir(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

// subdirs lists the child cgroups of dir.
func subdirs(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, dir+"/"+e.Name())
		}
	}
	return out, nil
}

// removeTree removes a cgroup directory and its child cgroups, children
// first, retrying while the kernel still reports it busy (exiting tasks).
// A missing directory is not an error.
func (m *Manager) removeTree(dir string, deadline time.Time) error {
	delay := time.Millisecond
	for {
		err := m.src.rmdirFn(dir)
		switch {
		case err == nil || errors.Is(err, unix.ENOENT):
			return nil
		case errors.Is(err, unix.EBUSY) || errors.Is(err, unix.ENOTEMPTY):
			kids, lerr := subdirs(dir)
			if lerr == nil && len(kids) > 0 && time.Now().Before(deadline) {
				for _, k := range kids {
					if kerr := m.removeTree(k, deadline); kerr != nil {
						return kerr
					}
				}
				continue
			}
			if time.Now().After(deadline) {
				return &os.PathError{Op: "rmdir", Path: dir, Err: err}
			}
			time.Sleep(delay)
			if delay < 32*time.Millisecond {
				delay *= 2
			}
		default:
			return &os.PathError{Op: "rmdir", Path: dir, Err: err}
		}
	}
}

// atFDCWD is AT_FDCWD (-100) as a system call argument.
var atFDCWD = func() uintptr { fd := unix.AT_FDCWD; return uintptr(fd) }()

// rawMkdir and rawRmdir: creating and removing a cgroup takes the kernel
// tens to hundreds of microseconds; see writeFile for why these are raw.
func rawMkdir(path string, mode uint32) error {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return err
	}
	_, _, e := unix.RawSyscall(unix.SYS_MKDIRAT, atFDCWD, uintptr(unsafe.Pointer(p)), uintptr(mode))
	if e != 0 {
		return e
	}
	return nil
}

func rawRmdir(path string) error {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return err
	}
	_, _, e := unix.RawSyscall(unix.SYS_UNLINKAT, atFDCWD, uintptr(unsafe.Pointer(p)), uintptr(unix.AT_REMOVEDIR))
	if e != 0 {
		return e
	}
	return nil
}
