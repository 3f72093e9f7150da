package container

import (
	"context"
	"os"
	"path/filepath"

	"github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/snapshot"
)

// A rootfs spare is the writable layer and mounted rootfs of the next
// container, made ahead for the image the last one was created from: the
// next create of that image takes it (its ID becomes the container's)
// instead of preparing a snapshot and mounting an overlay while the client
// waits. The overlay mount alone is ~0.2 ms on an idle disk, but a
// millisecond and more in a create, where it meets the create's commits
// and competes with the client for the CPUs. One spare at most; it is
// made after a start (fillRootfs), like the spare shim.
type rootfsSpare struct {
	id         string
	image      string // the image's ID
	parent     string // the image's top chain ID
	autoRemove bool   // --rm: ephemeral snapshot, volatile mount
	err        error
}

// takeRootfs returns the spare for parent and autoRemove, if one is ready.
func (s *Service) takeRootfs(parent string, autoRemove bool) *rootfsSpare {
	s.mu.Lock()
	sp := s.spareRoot
	if sp == nil || sp.parent != parent || sp.autoRemove != autoRemove {
		s.mu.Unlock()
		return nil
	}
	s.spareRoot = nil
	s.mu.Unlock()
	os.Remove(filepath.Join(s.bundleDir(sp.id), SpareMarker))
	return sp
}

// noteRootfs records what a create without a spare was made from: the
// next spare is made for it.
func (s *Service) noteRootfs(image, parent string, autoRemove bool) {
	s.mu.Lock()
	s.lastRoot = rootfsSpare{image: image, parent: parent, autoRemove: autoRemove}
	s.mu.Unlock()
}

// fillRootfs makes a spare for what the last create was made from, in the
// background, dropping one made for something else, unless one is ready
// or on its way.
func (s *Service) fillRootfs() {
	s.mu.Lock()
	want := s.lastRoot
	if !s.RootfsAhead || want.parent == "" || s.fillingRoot != nil || s.rootClosed ||
		(s.spareRoot != nil && s.spareRoot.parent == want.parent && s.spareRoot.autoRemove == want.autoRemove) {
		s.mu.Unlock()
		return
	}
	old := s.spareRoot
	sp := &rootfsSpare{id: newID(), image: want.image, parent: want.parent, autoRemove: want.autoRemove}
	s.spareRoot, s.fillingRoot = nil, sp
	s.rootWG.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.rootWG.Done()
		if old != nil {
			s.dropRootfs(old)
		}
		s.makeRootfs(sp)
		s.mu.Lock()
		s.fillingRoot = nil
		if sp.err == nil && !s.rootClosed && s.lastRoot.image == sp.image {
			s.spareRoot, sp = sp, nil
		}
		s.mu.Unlock()
		if sp != nil {
			s.dropRootfs(sp)
		}
	}()
}

// SpareMarker is a file in the bundle directory of the rootfs spare (and
// only there), for tools that look for leftover mounts.
const SpareMarker = "rootfs-spare"

func (s *Service) makeRootfs(sp *rootfsSpare) {
	parent, autoRemove := sp.parent, sp.autoRemove
	ctx := context.Background()
	bundle := s.bundleDir(sp.id)
	if sp.err = os.MkdirAll(bundle, 0o711); sp.err != nil {
		return
	}
	if sp.err = os.WriteFile(filepath.Join(bundle, SpareMarker), nil, 0o600); sp.err != nil {
		return
	}
	labels := map[string]string{"berth.container": sp.id}
	if autoRemove {
		labels[snapshot.LabelEphemeral] = "1"
	}
	if _, sp.err = s.Snaps.Prepare(ctx, sp.id, parent, labels); sp.err != nil {
		return
	}
	c := &Container{ID: sp.id, HostConfig: &container.HostConfig{AutoRemove: autoRemove}}
	if sp.err = s.mountRootfs(ctx, c); sp.err == nil {
		makeMountpoints(filepath.Join(s.bundleDir(sp.id), "rootfs"))
	}
}

// dropRootfsOf drops the spare made from image (about to be removed: the
// spare would keep its layers) and makes none until a create of another.
func (s *Service) dropRootfsOf(image string) {
	s.mu.Lock()
	if s.lastRoot.image == image {
		s.lastRoot = rootfsSpare{}
	}
	var sp *rootfsSpare
	if s.spareRoot != nil && s.spareRoot.image == image {
		sp, s.spareRoot = s.spareRoot, nil
	}
	filling := s.fillingRoot != nil && s.fillingRoot.image == image
	s.mu.Unlock()
	if filling {
		// It sees lastRoot changed and drops itself.
		s.rootWG.Wait()
	}
	if sp != nil {
		s.dropRootfs(sp)
	}
}

// dropRootfs undoes a spare: its mount, bundle directory and snapshot.
func (s *Service) dropRootfs(sp *rootfsSpare) {
	bundle := s.bundleDir(sp.id)
	snapshot.UnmountAll(filepath.Join(bundle, "rootfs"))
	os.RemoveAll(bundle)
	s.Snaps.Remove(context.Background(), sp.id)
}

// CloseRootfs drops the rootfs spare and makes no more (daemon shutdown).
func (s *Service) CloseRootfs() {
	s.mu.Lock()
	s.rootClosed = true
	sp := s.spareRoot
	s.spareRoot = nil
	s.mu.Unlock()
	s.rootWG.Wait()
	if sp != nil {
		s.dropRootfs(sp)
	}
}
