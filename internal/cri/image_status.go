package cri

import (
	"context"
	"encoding/json"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berth-dev/berth/internal/errdefs"
)

// ImageStatus returns an image, or none (and no error) if it is absent.
func (s *Server) ImageStatus(ctx context.Context, req *runtimeapi.ImageStatusRequest) (*runtimeapi.ImageStatusResponse, error) {
	if req.GetImage().GetImage() == "" {
		return nil, errdefs.InvalidArgument("image reference is empty")
	}
	return cached(s, imageStatusKey{req.GetImage().GetImage(), req.GetVerbose()}, func() (*runtimeapi.ImageStatusResponse, error) {
		img, err := s.findImage(ctx, req.GetImage())
		if err != nil || img == nil {
			return &runtimeapi.ImageStatusResponse{}, err
		}
		resp := &runtimeapi.ImageStatusResponse{Image: s.toCRIImage(ctx, *img)}
		if req.GetVerbose() {
			if cfg, err := s.Images.Config(ctx, img.Image); err == nil {
				b, _ := json.Marshal(map[string]any{"imageSpec": cfg, "chainID": img.TopChainID().String()})
				resp.Info = map[string]string{"info": string(b)}
			}
		}
		return resp, nil
	})
}
