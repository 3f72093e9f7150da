package cri

import (
	"context"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// RemoveImage deletes an image with all its tags; an absent image is no
// error (the CRI's calls are idempotent). Its blobs and layers go with the
// next garbage collection, which runs shortly after (scheduleGC).
func (s *Server) RemoveImage(ctx context.Context, req *runtimeapi.RemoveImageRequest) (*runtimeapi.RemoveImageResponse, error) {
	img, err := s.findImage(ctx, req.GetImage())
	if err != nil || img == nil {
		return &runtimeapi.RemoveImageResponse{}, err
	}
	if _, err := s.Images.Remove(ctx, img.ID.String(), true); err != nil {
		return nil, err
	}
	s.scheduleGC()
	return &runtimeapi.RemoveImageResponse{}, nil
}

// gcDelay is how long a collection waits after an image removal: the
// kubelet removes images in bursts, and one pulled again meanwhile keeps
// its layers instead of unpacking them anew (containerd's collector is
// scheduled the same way).
const gcDelay = 500 * time.Millisecond

// scheduleGC runs one garbage collection gcDelay from now, unless one is
// already due.
func (s *Server) scheduleGC() {
	if s.GC == nil {
		return
	}
	s.gcMu.Lock()
	defer s.gcMu.Unlock()
	if s.gcDue {
		return
	}
	s.gcDue = true
	time.AfterFunc(gcDelay, func() {
		s.gcMu.Lock()
		s.gcDue = false
		s.gcMu.Unlock()
		if _, err := s.GC.Collect(context.Background()); err != nil {
			s.Log.Warn("cri: garbage collection after RemoveImage", "err", err)
		}
	})
}
