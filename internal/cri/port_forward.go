package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berth-dev/berth/internal/errdefs"
)

// PortForward returns the URL where the kubelet forwards ports of a
// ready pod.
func (s *Server) PortForward(ctx context.Context, req *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error) {
	sb, err := s.getSandbox(req.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	if !sb.Ready {
		return nil, errdefs.FailedPrecondition("pod sandbox %s is not ready", sb.ID[:12])
	}
	req.PodSandboxId = sb.ID
	return s.stream.GetPortForward(req)
}
