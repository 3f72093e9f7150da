package unpack

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// entry applies one tar entry; every error it returns names the entry.
func (a *applier) entry(tr *tar.Reader, hdr *tar.Header) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil // archive-wide PAX records (a comment, a tool name): nothing to apply
	}
	if err := a.apply(tr, hdr); err != nil {
		return entryErr(hdr.Name, err)
	}
	return nil
}

func (a *applier) apply(tr *tar.Reader, hdr *tar.Header) error {
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeCont, tar.TypeGNUSparse, tar.TypeDir, tar.TypeSymlink,
		tar.TypeLink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	default:
		return invalid("unsupported tar entry type %q", hdr.Typeflag)
	}
	rel, err := cleanName(hdr.Name)
	if err != nil {
		return invalid("%v", err)
	}
	if len(hdr.Linkname) > maxNameLen {
		return invalid("link target longer than %d bytes", maxNameLen)
	}
	if hdr.Size < 0 {
		return invalid("negative size %d", hdr.Size)
	}
	if hdr.Uid < 0 || hdr.Gid < 0 || hdr.Uid >= math.MaxUint32 || hdr.Gid >= math.MaxUint32 {
		// (uid_t -1 would mean "leave the owner alone" to chown.)
		return invalid("owner %d:%d out of range", hdr.Uid, hdr.Gid)
	}
	xattrs, err := layerXattrs(hdr)
	if err != nil {
		return err
	}

	kind, target, err := classifyName(rel)
	if err != nil {
		return invalid("%v", err)
	}
	dir, base := splitName(rel)
	switch kind {
	case kindMeta:
		return nil
	case kindWhiteout:
		a.files++
		return a.whiteout(dir, target)
	case kindOpaque:
		a.files++
		return a.opaque(dir)
	}

	if rel == "" {
		if hdr.Typeflag == tar.TypeDir {
			// The snapshot root's own attributes belong to the snapshotter.
			return nil
		}
		return invalid("%v", errRootName)
	}

	parent, err := a.parentDir(dir)
	if err != nil && a.mode == WhiteoutOverlay && errors.Is(err, unix.ENOTDIR) {
		var revived bool
		if revived, err = a.reviveWhiteouts(dir); err == nil && revived {
			parent, err = a.parentDir(dir)
		}
	}
	if err != nil {
		// The lookup's own message names host paths; the errno is the news.
		var errno unix.Errno
		if errors.As(err, &errno) {
			err = errno
		}
		return fmt.Errorf("parent directory %q (resolved inside the root): %w", short(dir), err)
	}
	pfd := int(parent.Fd())
	switch hdr.Typeflag {
	case tar.TypeDir:
		err = a.makeDir(pfd, rel, base, hdr, xattrs)
	case tar.TypeReg, tar.TypeCont, tar.TypeGNUSparse:
		err = a.writeFile(pfd, rel, base, hdr, tr, xattrs)
	case tar.TypeSymlink:
		err = a.makeSymlink(pfd, base, hdr, xattrs)
	case tar.TypeLink:
		err = a.makeHardlink(pfd, base, hdr)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		err = a.makeNode(pfd, base, hdr, xattrs)
	}
	if err != nil {
		return err
	}
	a.markTouched(rel)
	a.files++
	return nil
}

// clear makes room for a new entry called name: whatever is there goes,
// directories with their contents (the entry replaces, it does not merge).
func (a *applier) clear(dirfd int, name string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	switch err {
	case nil:
		a.cacheValid = false
		return nil
	case unix.ENOENT:
		return nil
	}
	return a.removeAt(dirfd, name)
}

func perm(hdr *tar.Header) uint32 { return uint32(hdr.Mode) & 0o7777 }

func (a *applier) makeDir(pfd int, rel, base string, hdr *tar.Header, xs []xattr) error {
	st, exists, err := lstatAt(pfd, base)
	if err != nil {
		return err
	}
	opaque := false
	if exists && !isDir(&st) {
		// In an upperdir a 0:0 device is a whiteout this layer made: the
		// directory replacing it must hide the lower one it whited out.
		opaque = a.mode == WhiteoutOverlay && isWhiteoutDevice(&st)
		if err := a.clear(pfd, base); err != nil {
			return err
		}
		exists = false
	}
	if !exists {
		if err := unix.Mkdirat(pfd, base, 0o700); err != nil {
			return err
		}
	}
	d, err := reopenDir(pfd, base)
	if err != nil {
		return err
	}
	defer d.Close()
	fd := int(d.Fd())
	// Ownership first: chown clears the setgid bit a mode may carry.
	if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	if err := unix.Fchmod(fd, perm(hdr)); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	if err := setXattrs(xs, true, func(n string, v []byte) error { return unix.Fsetxattr(fd, n, v, 0) }); err != nil {
		return err
	}
	if opaque {
		if err := unix.Fsetxattr(fd, overlayOpaque, []byte("y"), 0); err != nil {
			return fmt.Errorf("mark opaque: %w", err)
		}
	}
	a.deferDirTimes(rel, hdr)
	return nil
}

func (a *applier) writeFile(pfd int, rel, base string, hdr *tar.Header, r io.Reader, xs []xattr) error {
	if err := a.clear(pfd, base); err != nil {
		return err
	}
	fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), rel)
	err = a.fill(f, hdr, r)
	// Ownership, then mode (chown drops setuid/setgid), then xattrs (chown
	// drops security.capability).
	if err == nil {
		if err = unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
			err = fmt.Errorf("chown: %w", err)
		}
	}
	if err == nil {
		if err = unix.Fchmod(fd, perm(hdr)); err != nil {
			err = fmt.Errorf("chmod: %w", err)
		}
	}
	if err == nil {
		err = setXattrs(xs, true, func(n string, v []byte) error { return unix.Fsetxattr(fd, n, v, 0) })
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return setTimesAt(pfd, base, accessTime(hdr), hdr.ModTime)
}

// writerOnly hides os.File's ReadFrom, so io.CopyBuffer uses our buffer.
type writerOnly struct{ io.Writer }

func (a *applier) fill(f *os.File, hdr *tar.Header, r io.Reader) error {
	if isSparse(hdr) {
		return a.fillSparse(f, hdr.Size, r)
	}
	n, err := io.CopyBuffer(writerOnly{f}, r, a.buf)
	if err != nil {
		return err
	}
	if n != hdr.Size {
		return io.ErrUnexpectedEOF
	}
	return nil
}

func isSparse(hdr *tar.Header) bool {
	if hdr.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// fillSparse writes a sparse entry, which archive/tar hands over expanded,
// leaving holes where the data is zero: a layer can declare a sparse file of
// terabytes in a few bytes, and writing its zeros would fill the disk.
//
// The holes still come through archive/tar as zeros to be read (it keeps
// the sparse map to itself), so a huge one costs time; the ctx bounds it,
// and sizing the file first fails at once when the filesystem cannot hold
// it at all.
func (a *applier) fillSparse(f *os.File, size int64, r io.Reader) error {
	if err := f.Truncate(size); err != nil {
		return err
	}
	var off int64
	for {
		// Holes are made up by archive/tar without reading the stream,
		// so the stream's own context checks do not run here.
		if err := a.ctx.Err(); err != nil {
			return err
		}
		n, err := r.Read(a.buf)
		if n > 0 {
			chunk := a.buf[:n]
			if !allZero(chunk) {
				if _, werr := f.WriteAt(chunk, off); werr != nil {
					return werr
				}
			}
			off += int64(n)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	if off != size {
		return io.ErrUnexpectedEOF
	}
	return nil
}

func allZero(b []byte) bool {
	var zero [4096]byte
	for len(b) > 0 {
		n := min(len(b), len(zero))
		if !bytes.Equal(b[:n], zero[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}

func (a *applier) makeSymlink(pfd int, base string, hdr *tar.Header, xs []xattr) error {
	if hdr.Linkname == "" {
		return invalid("symlink with an empty target")
	}
	if err := a.clear(pfd, base); err != nil {
		return err
	}
	// The target is stored verbatim: it is resolved later, inside the
	// container, and never by this package.
	if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
		return err
	}
	if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	p := procPath(pfd, base)
	if err := setXattrs(xs, false, func(n string, v []byte) error { return unix.Lsetxattr(p, n, v, 0) }); err != nil {
		return err
	}
	return setTimesAt(pfd, base, accessTime(hdr), hdr.ModTime)
}

// makeHardlink links an entry already in the root. The target's directory
// is resolved inside the root; its last component is not followed, so a
// link to a symlink links the symlink itself, wherever it points.
func (a *applier) makeHardlink(pfd int, base string, hdr *tar.Header) error {
	trel, err := cleanName(hdr.Linkname)
	if err != nil {
		return invalid("hardlink target %q: %v", short(hdr.Linkname), err)
	}
	if trel == "" {
		return invalid("hardlink to the root directory")
	}
	tdir, tbase := splitName(trel)
	tparent, err := openInRoot(a.root, tdir)
	if errors.Is(err, unix.ENOENT) {
		return invalid("hardlink target %q is not in the layer", short(hdr.Linkname))
	}
	if err != nil {
		return fmt.Errorf("hardlink target %q: %w", short(hdr.Linkname), err)
	}
	defer tparent.Close()
	tpfd := int(tparent.Fd())
	tst, ok, err := lstatAt(tpfd, tbase)
	if err != nil {
		return fmt.Errorf("hardlink target %q: %w", short(hdr.Linkname), err)
	}
	if !ok {
		return invalid("hardlink target %q is not in the layer", short(hdr.Linkname))
	}
	if isDir(&tst) {
		return invalid("hardlink target %q is a directory", short(hdr.Linkname))
	}
	if st, ok, _ := lstatAt(pfd, base); ok && st.Dev == tst.Dev && st.Ino == tst.Ino {
		return nil // already that file (a link to itself, or repeated)
	}
	if err := a.clear(pfd, base); err != nil {
		return err
	}
	return unix.Linkat(tpfd, tbase, pfd, base, 0)
}

func (a *applier) makeNode(pfd int, base string, hdr *tar.Header, xs []xattr) error {
	var mode uint32
	dev := 0
	switch hdr.Typeflag {
	case tar.TypeChar:
		mode = unix.S_IFCHR
	case tar.TypeBlock:
		mode = unix.S_IFBLK
	case tar.TypeFifo:
		mode = unix.S_IFIFO
	}
	if hdr.Typeflag != tar.TypeFifo {
		if hdr.Devmajor < 0 || hdr.Devminor < 0 || hdr.Devmajor > math.MaxUint32 || hdr.Devminor > math.MaxUint32 {
			return invalid("device number %d:%d out of range", hdr.Devmajor, hdr.Devminor)
		}
		dev = int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
	}
	if err := a.clear(pfd, base); err != nil {
		return err
	}
	if err := unix.Mknodat(pfd, base, mode|0o600, dev); err != nil {
		return err
	}
	if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	if err := chmodNoFollow(pfd, base, perm(hdr)); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	p := procPath(pfd, base)
	if err := setXattrs(xs, false, func(n string, v []byte) error { return unix.Lsetxattr(p, n, v, 0) }); err != nil {
		return err
	}
	return setTimesAt(pfd, base, accessTime(hdr), hdr.ModTime)
}

const overlayOpaque = "trusted.overlay.opaque"

type xattr struct {
	name  string
	value []byte
}

// layerXattrs collects an entry's extended attributes. A layer carrying
// overlayfs's own attributes (trusted.overlay.* or, with the userxattr
// mount option, user.overlay.*) is refused: in an upperdir they would forge
// whiteouts, opaque directories or redirects into other layers.
func layerXattrs(hdr *tar.Header) ([]xattr, error) {
	var xs []xattr
	for k, v := range hdr.PAXRecords {
		if name, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
			if isOverlayXattr(name) {
				return nil, invalid("xattr %q is overlayfs metadata and may not come from a layer", name)
			}
			xs = append(xs, xattr{name: name, value: []byte(v)})
			continue
		}
		// libarchive's form is not applied, but it must not smuggle the
		// same attributes past a tool that would apply it.
		if enc, ok := strings.CutPrefix(k, "LIBARCHIVE.xattr."); ok {
			if name, err := url.PathUnescape(enc); err == nil && isOverlayXattr(name) {
				return nil, invalid("xattr %q is overlayfs metadata and may not come from a layer", name)
			}
		}
	}
	slices.SortFunc(xs, func(x, y xattr) int { return strings.Compare(x.name, y.name) })
	return xs, nil
}

func isOverlayXattr(name string) bool {
	return strings.HasPrefix(name, "trusted.overlay.") || strings.HasPrefix(name, "user.overlay.")
}

// setXattrs applies xs with set. A filesystem without support for a
// namespace (ENOTSUP) loses that attribute quietly, as tar does; so does a
// user.* attribute on a symlink or device, which the kernel never allows.
func setXattrs(xs []xattr, fileOrDir bool, set func(name string, value []byte) error) error {
	for _, x := range xs {
		err := set(x.name, x.value)
		switch {
		case err == nil:
		case errors.Is(err, unix.ENOTSUP):
		case !fileOrDir && errors.Is(err, unix.EPERM) && strings.HasPrefix(x.name, "user."):
		default:
			return fmt.Errorf("set xattr %q: %w", x.name, err)
		}
	}
	return nil
}

// short keeps error messages readable when a hostile layer uses huge names.
func short(s string) string {
	const max = 256
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
