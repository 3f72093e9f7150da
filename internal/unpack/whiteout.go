package unpack

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Whiteouts are resolved without following any symlink (see
// openNoSymlinks). Their directory is created when missing, in both modes:
// in an upperdir it must exist to hold the whiteout, and the layer's view
// has that directory either way.

// whiteout hides target, in directory dir, from the layers below.
func (a *applier) whiteout(dir, target string) error {
	d, err := mkdirNoSymlinks(a.root, dir)
	if err != nil {
		return fmt.Errorf("whiteout directory: %w", err)
	}
	defer d.Close()
	a.markTouched(dir)
	dfd := int(d.Fd())
	st, exists, err := lstatAt(dfd, target)
	if err != nil {
		return err
	}

	// An entry this layer wrote wins over the same layer's whiteout (the
	// OCI layer spec: a whiteout applies to lower layers only). A directory
	// keeps what this layer put in it and loses the lower content, as if
	// the whiteout had come first.
	if a.mode == WhiteoutOverlay {
		if !exists {
			return unix.Mknodat(dfd, target, unix.S_IFCHR, 0)
		}
		if isDir(&st) {
			return a.setOpaque(dfd, target) // all of an upperdir is this layer's
		}
		return nil
	}
	switch {
	case !exists:
		return nil
	case !a.isTouched(joinName(dir, target)):
		return a.removeAt(dfd, target)
	case isDir(&st):
		return a.clearLower(dfd, target, joinName(dir, target))
	}
	return nil
}

// opaque hides every lower child of dir.
func (a *applier) opaque(dir string) error {
	d, err := mkdirNoSymlinks(a.root, dir)
	if err != nil {
		return fmt.Errorf("opaque directory: %w", err)
	}
	defer d.Close()
	a.markTouched(dir)
	if a.mode == WhiteoutOverlay {
		return a.setOpaque(int(d.Fd()), ".")
	}
	return a.clearLower(int(d.Fd()), ".", dir)
}

func (a *applier) setOpaque(dirfd int, name string) error {
	d, err := reopenDir(dirfd, name)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := unix.Fsetxattr(int(d.Fd()), overlayOpaque, []byte("y"), 0); err != nil {
		return fmt.Errorf("mark opaque: %w", err)
	}
	return nil
}

// clearLower removes from directory name (in dirfd; rel from the root)
// everything this layer did not write, descending into the directories it
// did: they were merged with a lower directory and hold lower content too.
func (a *applier) clearLower(dirfd int, name, rel string) error {
	d, err := reopenDir(dirfd, name)
	if err != nil {
		return err
	}
	defer d.Close()
	a.cacheValid = false
	var keptDirs []string
	err = emptyDir(d, func(n string) bool {
		if !a.isTouched(joinName(rel, n)) {
			return false
		}
		if st, ok, _ := lstatAt(int(d.Fd()), n); ok && isDir(&st) {
			keptDirs = append(keptDirs, n)
		}
		return true
	})
	if err != nil {
		return err
	}
	for _, n := range keptDirs {
		if err := a.clearLower(int(d.Fd()), n, joinName(rel, n)); err != nil {
			return err
		}
	}
	return nil
}

// reviveWhiteouts handles, in an upperdir, an entry under a directory this
// layer whited out without listing the directory again (".wh.d" then
// "d/x"): each whiteout device on the way becomes an opaque directory, as
// the native mode's delete-then-create leaves only this layer's content.
// It reports whether it changed anything.
func (a *applier) reviveWhiteouts(dir string) (bool, error) {
	d, err := openNoSymlinks(a.root, "")
	if err != nil {
		return false, err
	}
	defer func() { d.Close() }()
	revived := false
	for _, c := range strings.Split(dir, "/") {
		dfd := int(d.Fd())
		st, ok, err := lstatAt(dfd, c)
		if err != nil || !ok {
			return revived, err
		}
		if isWhiteoutDevice(&st) {
			if err := a.removeAt(dfd, c); err != nil {
				return revived, err
			}
			if err := unix.Mkdirat(dfd, c, 0o755); err != nil {
				return revived, err
			}
			if err := a.setOpaque(dfd, c); err != nil {
				return revived, err
			}
			revived = true
		} else if !isDir(&st) {
			return revived, nil
		}
		next, err := openDirNoFollow(dfd, c)
		if err != nil {
			return revived, err
		}
		d.Close()
		d = os.NewFile(uintptr(next), c)
	}
	return revived, nil
}
