package snapshot

import (
	"context"
	"io/fs"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// dirUsage measures the space under dir the way du does: allocated blocks,
// with each hard-linked inode counted once.
func dirUsage(ctx context.Context, dir string) (Usage, error) {
	seen := map[inode]bool{}
	var u Usage
	err := filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(path, &st); err != nil {
			return &fs.PathError{Op: "lstat", Path: path, Err: err}
		}
		// Only multiply-linked files can be met twice; tracking just them
		// keeps the map small on big trees.
		if st.Nlink > 1 && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			key := inode{uint64(st.Dev), st.Ino}
			if seen[key] {
				return nil
			}
			seen[key] = true
		}
		u.Inodes++
		u.Size += st.Blocks * 512
		return nil
	})
	return u, err
}
