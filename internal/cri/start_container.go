package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// StartContainer starts a created container.
func (s *Server) StartContainer(ctx context.Context, req *runtimeapi.StartContainerRequest) (*runtimeapi.StartContainerResponse, error) {
	c, err := s.getContainer(req.GetContainerId())
	if err != nil {
		return nil, err
	}
	if err := s.Containers.Start(ctx, c.ID); err != nil {
		return nil, err
	}
	s.prewarm(ctx, "", c.ID)
	return &runtimeapi.StartContainerResponse{}, nil
}
