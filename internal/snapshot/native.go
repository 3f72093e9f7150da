package snapshot

import (
	"context"
	"os"
	"path/filepath"
)

// Native gives every active snapshot a full copy of its parent, for
// filesystems overlayfs cannot stack on. Slower and larger than Overlay,
// but it needs nothing from the kernel beyond bind mounts.
type Native struct{ *core }

var (
	_ Snapshotter  = (*Native)(nil)
	_ DirectWriter = (*Native)(nil)
)

// OpenNative opens (creating if needed) a native snapshotter at root.
func OpenNative(root string) (*Native, error) {
	c, err := openCore(root, nativeDriver{})
	if err != nil {
		return nil, err
	}
	return &Native{c}, nil
}

type nativeDriver struct{}

func (nativeDriver) whiteoutMode() WhiteoutMode { return WhiteoutDelete }

func (nativeDriver) fill(ctx context.Context, dir string, kind Kind, parents []string) error {
	fs := filepath.Join(dir, "fs")
	if err := os.Mkdir(fs, 0o755); err != nil {
		return err
	}
	// A parent's fs is already a full copy of its own chain. A view needs
	// no copy: committed layers never change, so it binds the parent.
	if kind == KindActive && len(parents) > 0 {
		if err := copyTree(ctx, parents[0], fs); err != nil {
			return err
		}
		// Durable before the record says the snapshot exists.
		return syncFS(fs)
	}
	return nil
}

func (nativeDriver) mounts(kind Kind, dir string, parents []string) []Mount {
	if kind == KindView && len(parents) > 0 {
		return []Mount{bind(parents[0], true)}
	}
	return []Mount{bind(filepath.Join(dir, "fs"), kind == KindView)}
}
