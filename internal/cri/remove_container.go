package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	ctr "github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/errdefs"
)

// RemoveContainer removes a container, killing it if it runs; an unknown
// container is no error.
func (s *Server) RemoveContainer(ctx context.Context, req *runtimeapi.RemoveContainerRequest) (*runtimeapi.RemoveContainerResponse, error) {
	c, err := s.getContainer(req.GetContainerId())
	if errdefs.IsNotFound(err) {
		return &runtimeapi.RemoveContainerResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	// The kubelet needs the container gone, not its files: those go
	// after the answer (RemovePodSandbox and a daemon stop wait for them).
	if err := s.Containers.Remove(ctx, c.ID, ctr.RemoveOptions{Force: true, Volumes: true, Background: true}); err != nil && !errdefs.IsNotFound(err) {
		return nil, err
	}
	s.forgetUser(c.ID)
	return &runtimeapi.RemoveContainerResponse{}, nil
}
