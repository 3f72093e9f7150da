package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// RemoveImage deletes an image with all its tags; an absent image is no
// error (the CRI's calls are idempotent).
func (s *Server) RemoveImage(ctx context.Context, req *runtimeapi.RemoveImageRequest) (*runtimeapi.RemoveImageResponse, error) {
	img, err := s.findImage(ctx, req.GetImage())
	if err != nil || img == nil {
		return &runtimeapi.RemoveImageResponse{}, err
	}
	if _, err := s.Images.Remove(ctx, img.ID.String(), true); err != nil {
		return nil, err
	}
	if s.GC != nil {
		if _, err := s.GC.Collect(ctx); err != nil {
			s.Log.Warn("cri: garbage collection after RemoveImage", "err", err)
		}
	}
	return &runtimeapi.RemoveImageResponse{}, nil
}
