package snapshot

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
)

// Overlay stacks snapshots with overlayfs: each snapshot's fs directory
// holds only its own changes, and the parent chain is its lower layers.
//
// Mount options name every layer by absolute path, snapshots/<id>/fs, with
// short numeric ids to keep them small; mount(2) still takes at most one
// page (4096 bytes), about 80 layers under /var/lib/berth/snapshots/overlay.
// Mount.Mount goes past that with the new mount API (Linux 6.8+); a caller
// that passes the options to mount(2) itself must handle the limit.
type Overlay struct{ *core }

var (
	_ Snapshotter  = (*Overlay)(nil)
	_ DirectWriter = (*Overlay)(nil)
)

// OpenOverlay opens (creating if needed) an overlay snapshotter at root.
// It mounts a small overlay under root first, so a kernel or backing
// filesystem that cannot do overlayfs fails here with ErrNotImplemented
// instead of at the first container start.
func OpenOverlay(root string) (*Overlay, error) {
	drv := &overlayDriver{}
	c, err := openCore(root, drv)
	if err != nil {
		return nil, err
	}
	// The database lock is held now, so the check dir is ours alone.
	if err := checkOverlay(root); err != nil {
		c.Close()
		return nil, err
	}
	// A kernel or module built with index=on records the identity of the
	// lower layers in each upper dir and refuses the mount once they are
	// copied or restored; snapshots gain nothing from the index, so it is
	// turned off wherever the kernel knows the option (the file exists).
	if _, err := os.Stat("/sys/module/overlay/parameters/index"); err == nil {
		drv.indexOff = true
	}
	return &Overlay{c}, nil
}

type overlayDriver struct{ indexOff bool }

func (d *overlayDriver) whiteoutMode() WhiteoutMode { return WhiteoutOverlay }

func (d *overlayDriver) fill(_ context.Context, dir string, kind Kind, _ []string) error {
	// The upper dir's mode is the mode of the mounted root, so 0755.
	if err := os.Mkdir(filepath.Join(dir, "fs"), 0o755); err != nil {
		return err
	}
	if kind == KindActive {
		return os.Mkdir(filepath.Join(dir, "work"), 0o700)
	}
	return nil
}

func (d *overlayDriver) mounts(kind Kind, dir string, parents []string) []Mount {
	fs := filepath.Join(dir, "fs")
	switch {
	case len(parents) == 0:
		return []Mount{bind(fs, kind == KindView)}
	case kind == KindView && len(parents) == 1:
		// overlayfs wants two lowers when there is no upper; one committed
		// layer never changes, so binding it read-only is the same view.
		return []Mount{bind(parents[0], true)}
	}
	var opts []string
	if d.indexOff {
		opts = append(opts, "index=off")
	}
	if kind == KindView {
		opts = append(opts, "ro")
	} else {
		opts = append(opts, "upperdir="+fs, "workdir="+filepath.Join(dir, "work"))
	}
	opts = append(opts, "lowerdir="+strings.Join(parents, ":"))
	return []Mount{{Type: "overlay", Source: "overlay", Options: opts}}
}

func bind(source string, ro bool) Mount {
	mode := "rw"
	if ro {
		mode = "ro"
	}
	return Mount{Type: "bind", Source: source, Options: []string{"rbind", mode}}
}

// checkOverlay mounts a two-layer overlay with an upper dir inside root,
// which is what every container start will need.
func checkOverlay(root string) error {
	dir := filepath.Join(root, "check")
	_ = UnmountAll(filepath.Join(dir, "merged")) // left by a crash mid-check
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("overlay check: %w", err)
	}
	defer os.RemoveAll(dir)
	for _, d := range []string{"lower1", "lower2", "upper", "work", "merged"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return fmt.Errorf("overlay check: %w", err)
		}
	}
	data := fmt.Sprintf("lowerdir=%s:%s,upperdir=%s,workdir=%s",
		filepath.Join(dir, "lower1"), filepath.Join(dir, "lower2"), filepath.Join(dir, "upper"), filepath.Join(dir, "work"))
	merged := filepath.Join(dir, "merged")
	if err := unix.Mount("overlay", merged, "overlay", 0, data); err != nil {
		return errdefs.NotImplemented("overlayfs is not usable with its layers in %s (%s filesystem): %v; use the native snapshotter", root, fsType(root), err)
	}
	if err := unix.Unmount(merged, 0); err != nil {
		return fmt.Errorf("overlay check: unmount: %w", err)
	}
	return nil
}

// fsType names the filesystem holding path, for error messages.
func fsType(path string) string {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return "unknown"
	}
	switch st.Type {
	case unix.EXT4_SUPER_MAGIC:
		return "ext4"
	case unix.XFS_SUPER_MAGIC:
		return "xfs"
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs"
	case unix.TMPFS_MAGIC:
		return "tmpfs"
	case unix.OVERLAYFS_SUPER_MAGIC:
		return "overlayfs"
	}
	return fmt.Sprintf("type %#x", st.Type)
}

// CommitOnto commits active snapshot key, prepared without a parent, as
// name on top of the committed snapshot parent. It is sound for overlay
// only: an overlay layer's directory holds just its own changes
// (whiteouts included), never a copy of its parents, so the layers of an
// image can be unpacked side by side and chained afterwards.
func (o *Overlay) CommitOnto(ctx context.Context, name, key, parent string, labels map[string]string) error {
	return o.commit(ctx, name, key, parent, true, labels)
}
