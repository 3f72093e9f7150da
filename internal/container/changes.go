package container

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/snapshot"
)

// Change is one entry of docker diff: Kind 0 changed, 1 added, 2 deleted.
type Change struct {
	Path string
	Kind int
}

// layerDiffer is a snapshotter whose active snapshots hold only their own
// changes (overlay), so a container's changes are its upper directory.
type layerDiffer interface {
	UpperDir(ctx context.Context, key string) (string, error)
	WhiteoutMode() snapshot.WhiteoutMode
	View(ctx context.Context, key, parent string, labels map[string]string) ([]snapshot.Mount, error)
}

// Changes lists what a container changed in its filesystem.
func (s *Service) Changes(ctx context.Context, term string) ([]Change, error) {
	c, err := s.Get(term)
	if err != nil {
		return nil, err
	}
	ld, ok := s.Snaps.(layerDiffer)
	if !ok || ld.WhiteoutMode() != snapshot.WhiteoutOverlay {
		return nil, errdefs.NotImplemented("changes need the overlay snapshotter")
	}
	upper, err := ld.UpperDir(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	// The image as the container started from it, to tell added from changed.
	img, err := s.Images.Get(ctx, c.Image)
	if err != nil {
		return nil, err
	}
	lower := ""
	if top := img.TopChainID(); top != "" {
		key := "diff-view-" + newID()[:16]
		ms, err := ld.View(ctx, key, top.String(), nil)
		if err != nil {
			return nil, err
		}
		defer s.Snaps.Remove(context.WithoutCancel(ctx), key)
		dir, err := os.MkdirTemp(s.State, "diff-")
		if err != nil {
			return nil, err
		}
		defer os.Remove(dir)
		if err := snapshot.MountAll(ms, dir); err != nil {
			return nil, err
		}
		defer snapshot.UnmountAll(dir)
		lower = dir
	}
	var out []Change
	err = filepath.WalkDir(upper, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == upper {
			return err
		}
		rel := "/" + filepath.ToSlash(mustRel(upper, p))
		var st unix.Stat_t
		if unix.Lstat(p, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0 {
			out = append(out, Change{Path: rel, Kind: 2})
			return nil
		}
		kind := 1
		if lower != "" {
			if _, err := os.Lstat(filepath.Join(lower, rel)); err == nil {
				kind = 0
			}
		}
		out = append(out, Change{Path: rel, Kind: kind})
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, err
}

func mustRel(base, p string) string {
	r, _ := filepath.Rel(base, p)
	return r
}
