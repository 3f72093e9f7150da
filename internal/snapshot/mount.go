package snapshot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Mount is one mount(2) call, in the shape of an OCI runtime-spec mount
// without its destination, so it can be handed to any runtime as well.
type Mount struct {
	Type    string // "bind" or a filesystem type such as "overlay"
	Source  string
	Options []string
}

// mountOptions is Options split into mount(2) flags and filesystem data.
type mountOptions struct {
	flags uintptr
	data  []string
}

// flagOptions are the options that are mount flags rather than filesystem
// data. Only what snapshots and their users need is here.
var flagOptions = map[string]struct {
	clear bool
	flag  uintptr
}{
	"ro":     {false, unix.MS_RDONLY},
	"rw":     {true, unix.MS_RDONLY},
	"bind":   {false, unix.MS_BIND},
	"rbind":  {false, unix.MS_BIND | unix.MS_REC},
	"nosuid": {false, unix.MS_NOSUID},
	"suid":   {true, unix.MS_NOSUID},
	"nodev":  {false, unix.MS_NODEV},
	"dev":    {true, unix.MS_NODEV},
	"noexec": {false, unix.MS_NOEXEC},
	"exec":   {true, unix.MS_NOEXEC},
}

func parseMountOptions(opts []string) mountOptions {
	var o mountOptions
	for _, opt := range opts {
		if f, ok := flagOptions[opt]; ok {
			if f.clear {
				o.flags &^= f.flag
			} else {
				o.flags |= f.flag
			}
			continue
		}
		o.data = append(o.data, opt)
	}
	return o
}

// Mount mounts m onto target.
func (m Mount) Mount(target string) error {
	o := parseMountOptions(m.Options)
	if m.Type == "bind" {
		o.flags |= unix.MS_BIND
	}
	if o.flags&unix.MS_BIND != 0 {
		return bindMount(m.Source, target, o)
	}
	data := strings.Join(o.data, ",")
	// mount(2) copies at most one page of data; overlay with many layers
	// can need more, which the new mount API takes one layer at a time.
	if len(data) >= os.Getpagesize() && m.Type == "overlay" {
		return mountOverlayLong(m.Source, target, o)
	}
	if err := unix.Mount(m.Source, target, m.Type, o.flags, data); err != nil {
		return fmt.Errorf("mount %s %s on %s: %w", m.Type, m.Source, target, err)
	}
	return nil
}

// bindMount binds source onto target. A bind ignores MS_RDONLY and the other
// per-mount flags, so they are applied by a remount afterwards.
func bindMount(source, target string, o mountOptions) error {
	if err := unix.Mount(source, target, "", o.flags&(unix.MS_BIND|unix.MS_REC), ""); err != nil {
		return fmt.Errorf("bind mount %s on %s: %w", source, target, err)
	}
	extra := o.flags &^ (unix.MS_BIND | unix.MS_REC)
	if extra == 0 {
		return nil
	}
	if err := unix.Mount("", target, "", unix.MS_REMOUNT|unix.MS_BIND|extra, ""); err != nil {
		_ = unix.Unmount(target, unix.MNT_DETACH)
		return fmt.Errorf("remount bind %s on %s: %w", source, target, err)
	}
	return nil
}

// Volatile returns ms with its overlay mounts made volatile (Linux 5.10):
// the overlay then never syncs its upper layer's filesystem, which it
// otherwise does, whole, when it is unmounted (~1-2 ms on an idle disk,
// far more under writes). For writable layers that are thrown away when
// the container exits (docker run --rm, as podman does): after a crash the
// kernel refuses to mount such an upper layer again, and nothing will.
func Volatile(ms []Mount) []Mount {
	out := make([]Mount, len(ms))
	for i, m := range ms {
		if m.Type == "overlay" && strings.Contains(strings.Join(m.Options, ","), "upperdir=") {
			m.Options = append(append([]string(nil), m.Options...), "volatile")
		}
		out[i] = m
	}
	return out
}

// MountAll mounts ms onto target in order, each on top of the last. On error
// it unmounts what it had mounted.
func MountAll(ms []Mount, target string) error {
	for i, m := range ms {
		if err := m.Mount(target); err != nil {
			for j := 0; j < i; j++ {
				_ = unix.Unmount(target, unix.MNT_DETACH)
			}
			return err
		}
	}
	return nil
}

// UnmountAll unmounts everything stacked on target. A target that is not a
// mount point, or does not exist, is not an error.
func UnmountAll(target string) error {
	// The bound is a guard against a target that is remounted under us.
	for range 1000 {
		err := unix.Unmount(target, 0)
		switch {
		case err == nil:
			continue
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
			return nil
		default:
			return fmt.Errorf("unmount %s: %w", target, err)
		}
	}
	return fmt.Errorf("unmount %s: still mounted after 1000 unmounts", target)
}

// MountAllIDMapped is MountAll with the image's layers seen through an
// idmapped mount for the user namespace pinned at userns, so files owned
// by host id 0 belong to that namespace's root, host ids rootUID and
// rootGID (a pod's with its own user namespace). An overlay cannot
// itself be idmapped, but its lower layers can (Linux 5.19): the
// directory holding them is cloned with the idmap, attached next to
// target just long enough for the overlay to take its private references
// to the layers, and detached again. The upper layer cannot be idmapped
// (the overlay works in it as its mounter, host root, which the idmap
// does not map), so it holds host ids and its top directory is given to
// the namespace's root. A bind mount (a snapshot without parents) is
// idmapped as a whole.
func MountAllIDMapped(ms []Mount, target, userns string, rootUID, rootGID int) error {
	ns, err := os.Open(userns)
	if err != nil {
		return fmt.Errorf("idmapped rootfs: %w", err)
	}
	defer ns.Close()
	mapped := make([]Mount, len(ms))
	var views []string
	defer func() {
		for _, v := range views {
			unix.Unmount(v, unix.MNT_DETACH)
			os.Remove(v)
		}
	}()
	for i, m := range ms {
		dirs, upper := layerDirs(m)
		if len(dirs) == 0 {
			return fmt.Errorf("idmapped rootfs: cannot idmap a %s mount", m.Type)
		}
		if upper != "" {
			if err := giveRoot(upper, rootUID, rootGID); err != nil {
				return err
			}
		}
		root := commonDir(dirs)
		view := fmt.Sprintf("%s.idmap%d", target, i)
		if err := os.Mkdir(view, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("idmapped rootfs: %w", err)
		}
		views = append(views, view)
		unix.Unmount(view, unix.MNT_DETACH) // left by a crash
		if err := idmapClone(root, view, int(ns.Fd())); err != nil {
			return err
		}
		mapped[i] = m.relocate(root, view)
	}
	return MountAll(mapped, target)
}

// giveRoot makes an upper layer's top directory the namespace root's, the
// first time (it may have been given before).
func giveRoot(dir string, uid, gid int) error {
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return fmt.Errorf("idmapped rootfs: %w", err)
	}
	if st.Uid != 0 || st.Gid != 0 {
		return nil
	}
	if err := os.Lchown(dir, uid, gid); err != nil {
		return fmt.Errorf("idmapped rootfs: %w", err)
	}
	return nil
}

// layerDirs are the host directories to idmap in a mount (its lower
// layers, or a bind's source) and its upper layer, if any.
func layerDirs(m Mount) (dirs []string, upper string) {
	o := parseMountOptions(m.Options)
	if m.Type == "bind" || o.flags&unix.MS_BIND != 0 {
		return []string{m.Source}, ""
	}
	if m.Type != "overlay" {
		return nil, ""
	}
	for _, d := range o.data {
		k, v, _ := strings.Cut(d, "=")
		switch k {
		case "lowerdir":
			dirs = append(dirs, strings.Split(v, ":")...)
		case "upperdir":
			upper = v
		}
	}
	return dirs, upper
}

// commonDir is the deepest directory that holds every one of dirs.
func commonDir(dirs []string) string {
	c := filepath.Clean(dirs[0])
	for _, d := range dirs[1:] {
		d = filepath.Clean(d)
		for c != "/" && d != c && !strings.HasPrefix(d, c+"/") {
			c = filepath.Dir(c)
		}
	}
	return c
}

// relocate rewrites m's lower layers (or bind source) under root to the
// same paths under view.
func (m Mount) relocate(root, view string) Mount {
	move := func(p string) string {
		if rel, err := filepath.Rel(root, filepath.Clean(p)); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			return filepath.Join(view, rel)
		}
		return p
	}
	out := Mount{Type: m.Type, Source: m.Source}
	if o := parseMountOptions(m.Options); m.Type == "bind" || o.flags&unix.MS_BIND != 0 {
		out.Source = move(m.Source)
	}
	for _, opt := range m.Options {
		if v, ok := strings.CutPrefix(opt, "lowerdir="); ok {
			parts := strings.Split(v, ":")
			for i := range parts {
				parts[i] = move(parts[i])
			}
			opt = "lowerdir=" + strings.Join(parts, ":")
		}
		out.Options = append(out.Options, opt)
	}
	return out
}

// idmapClone attaches at view a copy of the mount tree at dir, idmapped
// through the user namespace nsFD.
func idmapClone(dir, view string, nsFD int) error {
	tree, err := unix.OpenTree(unix.AT_FDCWD, dir, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return fmt.Errorf("idmapped rootfs: open_tree %s: %w", dir, err)
	}
	defer unix.Close(tree)
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(nsFD)}
	if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH, &attr); err != nil {
		return fmt.Errorf("idmapped rootfs: the filesystem of %s cannot be idmapped: %w", dir, err)
	}
	if err := unix.MoveMount(tree, "", unix.AT_FDCWD, view, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("idmapped rootfs: attach at %s: %w", view, err)
	}
	return nil
}
