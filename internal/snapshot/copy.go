package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// copyTree copies the contents and attributes of directory src into the
// existing directory dst, keeping what an image layer can hold: modes
// (setuid, sticky), owners, xattrs (capabilities, overlay markers), hard
// links, symlinks, device nodes, fifos and timestamps. Regular files are
// cloned (reflink) where the filesystem can, and copied where it cannot.
func copyTree(ctx context.Context, src, dst string) error {
	c := copier{ctx: ctx, links: map[inode]string{}}
	return c.copy(src, dst, true)
}

type inode struct{ dev, ino uint64 }

type copier struct {
	ctx   context.Context
	links map[inode]string // first copy of each multiply-linked inode
}

func (c *copier) copy(src, dst string, isRoot bool) error {
	if err := c.ctx.Err(); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Lstat(src, &st); err != nil {
		return &os.PathError{Op: "lstat", Path: src, Err: err}
	}
	format := st.Mode & unix.S_IFMT
	if format != unix.S_IFDIR && st.Nlink > 1 {
		key := inode{uint64(st.Dev), st.Ino}
		if first, ok := c.links[key]; ok {
			// Sharing the inode shares its attributes too.
			return os.Link(first, dst)
		}
		c.links[key] = dst
	}
	var err error
	switch format {
	case unix.S_IFDIR:
		err = c.copyDir(src, dst, isRoot)
	case unix.S_IFREG:
		err = copyFile(src, dst)
	case unix.S_IFLNK:
		var target string
		if target, err = os.Readlink(src); err == nil {
			err = os.Symlink(target, dst)
		}
	case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO, unix.S_IFSOCK:
		if err = unix.Mknod(dst, st.Mode, int(st.Rdev)); err != nil {
			err = &os.PathError{Op: "mknod", Path: dst, Err: err}
		}
	default:
		err = fmt.Errorf("copy %s: unknown file type %#o", src, format)
	}
	if err != nil {
		return err
	}
	return copyAttrs(src, dst, &st)
}

func (c *copier) copyDir(src, dst string, isRoot bool) error {
	if !isRoot {
		// Owner-only until copyAttrs sets the real mode after the content,
		// so a read-only directory can still be filled.
		if err := os.Mkdir(dst, 0o700); err != nil {
			return err
		}
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := c.copy(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name()), false); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if unix.IoctlFileClone(int(out.Fd()), int(in.Fd())) != nil {
		// No reflinks here; io.Copy still uses copy_file_range.
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return fmt.Errorf("copy %s: %w", src, err)
		}
	}
	return out.Close()
}

// copyAttrs sets dst's owner, mode, xattrs and times from st. The order
// matters: chown clears setuid bits and file capabilities, so mode and
// xattrs come after it, and times come last because every other change
// touches ctime/mtime of directories.
func copyAttrs(src, dst string, st *unix.Stat_t) error {
	if err := os.Lchown(dst, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	isLink := st.Mode&unix.S_IFMT == unix.S_IFLNK
	if !isLink {
		if err := unix.Chmod(dst, st.Mode&0o7777); err != nil {
			return &os.PathError{Op: "chmod", Path: dst, Err: err}
		}
	}
	if err := copyXattrs(src, dst); err != nil {
		return err
	}
	ts := []unix.Timespec{st.Atim, st.Mtim}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, dst, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "utimensat", Path: dst, Err: err}
	}
	return nil
}

func copyXattrs(src, dst string) error {
	names, err := listXattrs(src)
	if err != nil {
		return err
	}
	for _, name := range names {
		value, err := getXattr(src, name)
		if err != nil {
			return err
		}
		if err := unix.Lsetxattr(dst, name, value, 0); err != nil {
			return &os.PathError{Op: "setxattr " + name, Path: dst, Err: err}
		}
	}
	return nil
}

func listXattrs(path string) ([]string, error) {
	buf, err := readSized(func(b []byte) (int, error) { return unix.Llistxattr(path, b) })
	if errors.Is(err, unix.ENOTSUP) {
		return nil, nil
	}
	if err != nil {
		return nil, &os.PathError{Op: "listxattr", Path: path, Err: err}
	}
	var names []string
	for len(buf) > 0 {
		i := 0
		for i < len(buf) && buf[i] != 0 {
			i++
		}
		if i > 0 {
			names = append(names, string(buf[:i]))
		}
		if i < len(buf) {
			i++
		}
		buf = buf[i:]
	}
	return names, nil
}

func getXattr(path, name string) ([]byte, error) {
	v, err := readSized(func(b []byte) (int, error) { return unix.Lgetxattr(path, name, b) })
	if err != nil {
		return nil, &os.PathError{Op: "getxattr " + name, Path: path, Err: err}
	}
	return v, nil
}

// readSized calls an xattr syscall first for the size and then for the
// data, retrying if the value grew in between.
func readSized(call func([]byte) (int, error)) ([]byte, error) {
	for {
		n, err := call(nil)
		if err != nil || n == 0 {
			return nil, err
		}
		buf := make([]byte, n)
		n, err = call(buf)
		if errors.Is(err, unix.ERANGE) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}

// CopyTree copies the tree at src into the existing directory dst with
// everything a layer can hold (see copyTree). Volumes use it to copy an
// image's content into a new volume.
func CopyTree(ctx context.Context, src, dst string) error { return copyTree(ctx, src, dst) }
