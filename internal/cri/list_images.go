package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ListImages lists every image (CRI and berth share the store), or the one
// the filter names.
func (s *Server) ListImages(ctx context.Context, req *runtimeapi.ListImagesRequest) (*runtimeapi.ListImagesResponse, error) {
	if want := req.GetFilter().GetImage(); want.GetImage() != "" {
		img, err := s.findImage(ctx, want)
		if err != nil || img == nil {
			return &runtimeapi.ListImagesResponse{}, err
		}
		return &runtimeapi.ListImagesResponse{Images: []*runtimeapi.Image{s.toCRIImage(ctx, *img)}}, nil
	}
	return cached(s, listImagesKey{}, func() (*runtimeapi.ListImagesResponse, error) {
		list, err := s.Images.List(ctx)
		if err != nil {
			return nil, err
		}
		resp := &runtimeapi.ListImagesResponse{}
		for _, img := range list {
			resp.Images = append(resp.Images, s.toCRIImage(ctx, img))
		}
		return resp, nil
	})
}
