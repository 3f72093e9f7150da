package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berth-dev/berth/internal/errdefs"
)

// Attach returns the URL where the kubelet attaches to a running
// container's stdio.
func (s *Server) Attach(ctx context.Context, req *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	c, err := s.getContainer(req.GetContainerId())
	if err != nil {
		return nil, err
	}
	if !c.State.Running() {
		return nil, errdefs.FailedPrecondition("container %s is not running", c.ID[:12])
	}
	return s.stream.GetAttach(req)
}
