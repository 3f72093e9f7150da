package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	ctr "github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/errdefs"
)

// StopContainer stops a container with its stop signal, then SIGKILL
// after the timeout; an unknown or stopped container is no error.
func (s *Server) StopContainer(ctx context.Context, req *runtimeapi.StopContainerRequest) (*runtimeapi.StopContainerResponse, error) {
	c, err := s.getContainer(req.GetContainerId())
	if errdefs.IsNotFound(err) {
		return &runtimeapi.StopContainerResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	t := int(req.GetTimeout())
	if err := s.Containers.Stop(ctx, c.ID, &t, ""); err != nil && err != ctr.ErrNotModified {
		return nil, err
	}
	s.Containers.WaitReleased(c.ID)
	return &runtimeapi.StopContainerResponse{}, nil
}
