package container

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"

	"github.com/berth-dev/berth/internal/archive"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/snapshot"
	"github.com/berth-dev/berth/internal/unpack"
	"github.com/berth-dev/berth/internal/unpack/compress"
)

// PathStat describes a path in a container (X-Docker-Container-Path-Stat).
type PathStat struct {
	Name       string      `json:"name"`
	Size       int64       `json:"size"`
	Mode       fs.FileMode `json:"mode"`
	Mtime      time.Time   `json:"mtime"`
	LinkTarget string      `json:"linkTarget"`
}

// withRootfs runs fn with the container's root filesystem: the live mount
// when it runs, a temporary mount of its writable layer otherwise.
func (s *Service) withRootfs(ctx context.Context, term string, fn func(rootfs string) error) error {
	c, err := s.Get(term)
	if err != nil {
		return err
	}
	unlock := s.lock(c.ID)
	defer unlock()
	if c, err = s.Get(c.ID); err != nil {
		return err
	}
	if c.State.Running() {
		return fn(filepath.Join(s.bundleDir(c.ID), "rootfs"))
	}
	// A mount made at the create is let go: one writable layer is never
	// mounted twice (overlayfs warns, or refuses, and the two would not
	// see each other's changes coherently).
	s.waitPremount(c.ID)
	snapshot.UnmountAll(filepath.Join(s.bundleDir(c.ID), "rootfs"))
	ms, err := s.Snaps.Mounts(ctx, c.ID)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp(s.State, "rootfs-")
	if err != nil {
		return err
	}
	defer os.Remove(dir)
	if err := snapshot.MountAll(ms, dir); err != nil {
		return err
	}
	defer snapshot.UnmountAll(dir)
	return fn(dir)
}

// resolve finds p inside rootfs without leaving it (symlinks are
// resolved as the container would).
func resolveIn(rootfs, p string) (string, error) {
	if !path.IsAbs(p) {
		p = "/" + p
	}
	return securejoin.SecureJoin(rootfs, p)
}

// lstatIn resolves p in rootfs and lstats it; a missing path is NotFound
// in Docker's words.
func lstatIn(rootfs, p, term string) (string, os.FileInfo, error) {
	full, err := resolveIn(rootfs, p)
	if err != nil {
		return "", nil, err
	}
	fi, err := os.Lstat(full)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil, errdefs.NotFound("Could not find the file %s in container %s", p, term)
	}
	return full, fi, err
}

// StatPath stats a path in the container.
func (s *Service) StatPath(ctx context.Context, term, p string) (PathStat, error) {
	var st PathStat
	err := s.withRootfs(ctx, term, func(rootfs string) error {
		full, fi, err := lstatIn(rootfs, p, term)
		if err != nil {
			return err
		}
		st = PathStat{Name: filepath.Base(p), Size: fi.Size(), Mode: fi.Mode(), Mtime: fi.ModTime()}
		if fi.Mode()&fs.ModeSymlink != 0 {
			st.LinkTarget, _ = os.Readlink(full)
		}
		return nil
	})
	return st, err
}

// CopyFrom writes a tar of path p (its base name at the top) to w.
func (s *Service) CopyFrom(ctx context.Context, term, p string, w io.Writer, stat func(PathStat)) error {
	return s.withRootfs(ctx, term, func(rootfs string) error {
		full, fi, err := lstatIn(rootfs, p, term)
		if err != nil {
			return err
		}
		if stat != nil {
			stat(PathStat{Name: filepath.Base(p), Size: fi.Size(), Mode: fi.Mode(), Mtime: fi.ModTime()})
		}
		base := filepath.Base(strings.TrimSuffix(p, "/"))
		if base == "/" || base == "." {
			base = "."
		}
		return archive.WriteTar(ctx, full, base, w)
	})
}

// Export writes a tar of the container's whole filesystem.
func (s *Service) Export(ctx context.Context, term string, w io.Writer) error {
	return s.withRootfs(ctx, term, func(rootfs string) error { return archive.WriteTar(ctx, rootfs, ".", w) })
}

// CopyTo extracts a tar into directory p of the container, securely
// (nothing lands outside p).
func (s *Service) CopyTo(ctx context.Context, term, p string, r io.Reader) error {
	return s.withRootfs(ctx, term, func(rootfs string) error {
		full, err := resolveIn(rootfs, p)
		if err != nil {
			return err
		}
		fi, err := os.Stat(full)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return errdefs.NotFound("Could not find the file %s in container %s", p, term)
			}
			return err
		}
		if !fi.IsDir() {
			return errdefs.InvalidArgument("extraction point is not a directory: %s", p)
		}
		// Docker's API takes the archive plain or compressed.
		_, err = unpack.Apply(ctx, full, r, "", unpack.Options{Whiteouts: unpack.WhiteoutDelete, Decompress: compress.Decompress})
		return err
	})
}
