package unpack

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// Everything below works on directory descriptors and *at system calls, so
// that no path string is ever resolved from the host's root: a symlink a
// layer planted can only redirect a lookup to somewhere else inside the
// extraction root.

var errThroughSymlink = errors.New("path goes through a symlink")

// noOpenat2 is set once the kernel says it has no openat2 (before 5.6); the
// lookups then go through pathrs-lite, which emulates RESOLVE_IN_ROOT safely.
var noOpenat2 atomic.Bool

// openInRoot opens the directory rel ("" is the root) resolving every
// component, symlinks included, as if root were "/": absolute symlinks and
// ".." stop at root. The result is an O_PATH handle, good as a dirfd.
func openInRoot(root *os.File, rel string) (*os.File, error) {
	p := rel
	if p == "" {
		p = "."
	}
	if !noOpenat2.Load() {
		how := &unix.OpenHow{
			Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
		}
		for try := 0; ; try++ {
			fd, err := unix.Openat2(int(root.Fd()), p, how)
			switch {
			case err == nil:
				return os.NewFile(uintptr(fd), p), nil
			case err == unix.EINTR, err == unix.EAGAIN && try < 32:
				// EAGAIN: a rename elsewhere raced a ".." step; the kernel asks for a retry.
				continue
			case err == unix.ENOSYS:
				noOpenat2.Store(true)
			default:
				return nil, err
			}
			break
		}
	}
	f, err := pathrs.OpenatInRoot(root, p)
	if err != nil {
		return nil, err
	}
	if err := mustBeDir(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// mkdirInRoot is openInRoot that creates missing directories (mode 0755),
// the way tar and Docker create the parents a layer does not list.
func mkdirInRoot(root *os.File, rel string) (*os.File, error) {
	f, err := openInRoot(root, rel)
	if err == nil || !errors.Is(err, unix.ENOENT) {
		return f, err
	}
	return pathrs.MkdirAllHandle(root, rel, 0o755)
}

func mustBeDir(f *os.File) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return unix.ENOTDIR
	}
	return nil
}

// openNoSymlinks opens the directory rel walking one component at a time
// and refusing symlinks altogether; with create, missing directories are
// made (mode 0755). Whiteouts use it: a diff never expresses a deletion
// through a symlink, so one that does is hostile, and following it even
// inside the root could delete or hide the wrong tree.
func openNoSymlinks(root *os.File, rel string) (*os.File, error) {
	return walkNoSymlinks(root, rel, false)
}

func mkdirNoSymlinks(root *os.File, rel string) (*os.File, error) {
	return walkNoSymlinks(root, rel, true)
}

func walkNoSymlinks(root *os.File, rel string, create bool) (*os.File, error) {
	fd, err := unix.Openat(int(root.Fd()), ".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if rel != "" {
		for _, c := range strings.Split(rel, "/") {
			next, err := openDirNoFollow(fd, c)
			if errors.Is(err, unix.ENOENT) && create {
				if err = unix.Mkdirat(fd, c, 0o755); err == nil || err == unix.EEXIST {
					next, err = openDirNoFollow(fd, c)
				}
			}
			if errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
				var st unix.Stat_t
				if unix.Fstatat(fd, c, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
					err = errThroughSymlink
				}
			}
			unix.Close(fd)
			if err != nil {
				return nil, err
			}
			fd = next
		}
	}
	return os.NewFile(uintptr(fd), rel), nil
}

func openDirNoFollow(dirfd int, name string) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		return fd, err
	}
}

// reopenDir turns an O_PATH directory handle into one that can be listed
// and carry fsetxattr.
func reopenDir(dirfd int, name string) (*os.File, error) {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}

// lstatAt is fstatat without following a final symlink; ok is false when
// nothing is there.
func lstatAt(dirfd int, name string) (st unix.Stat_t, ok bool, err error) {
	err = unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if err == unix.ENOENT {
		return st, false, nil
	}
	return st, err == nil, err
}

func isDir(st *unix.Stat_t) bool { return st.Mode&unix.S_IFMT == unix.S_IFDIR }

// isWhiteoutDevice reports overlayfs's whiteout: a character device 0:0.
func isWhiteoutDevice(st *unix.Stat_t) bool {
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
}

// removeAt removes name from dirfd, a directory with all it holds. Nothing
// is followed: a symlink is removed, never its target.
func removeAt(dirfd int, name string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || err == unix.ENOENT {
		return nil
	}
	if err != unix.EISDIR && err != unix.EPERM {
		return err
	}
	d, err := reopenDir(dirfd, name)
	if err != nil {
		return err
	}
	err = emptyDir(d, nil)
	d.Close()
	if err != nil {
		return err
	}
	if err := unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR); err != nil && err != unix.ENOENT {
		return err
	}
	return nil
}

// emptyDir removes the children of d, except those keep says to keep. The
// names are read first: removing while reading leaves it to the filesystem
// whether entries are skipped.
func emptyDir(d *os.File, keep func(name string) bool) error {
	names, err := d.Readdirnames(-1)
	if err != nil {
		return err
	}
	for _, n := range names {
		if keep != nil && keep(n) {
			continue
		}
		if err := removeAt(int(d.Fd()), n); err != nil {
			return err
		}
	}
	return nil
}

// procPath names name inside the directory dirfd through /proc/self/fd, for
// the calls that have no *at form (lsetxattr, chmod). The magic link only
// leads to the directory we hold; the last component is not followed by the
// l* calls, and chmodNoFollow checks it first.
func procPath(dirfd int, name string) string {
	return "/proc/self/fd/" + strconv.Itoa(dirfd) + "/" + name
}

// chmodNoFollow sets the mode of name in dirfd, which must not be a symlink.
// fchmodat cannot refuse to follow a symlink before Linux 6.6, so the entry
// is pinned with an O_PATH descriptor, checked, and changed through it.
func chmodNoFollow(dirfd int, name string, mode uint32) error {
	fd, err := unix.Openat(dirfd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return nil // the mode of a symlink means nothing on Linux
	}
	return unix.Chmod("/proc/self/fd/"+strconv.Itoa(fd), mode)
}

func timespec(t time.Time) unix.Timespec {
	return unix.Timespec{Sec: t.Unix(), Nsec: int64(t.Nanosecond())}
}

func setTimesAt(dirfd int, name string, atime, mtime time.Time) error {
	ts := []unix.Timespec{timespec(atime), timespec(mtime)}
	return unix.UtimesNanoAt(dirfd, name, ts, unix.AT_SYMLINK_NOFOLLOW)
}
