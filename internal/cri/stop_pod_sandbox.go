package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	ctr "github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/errdefs"
)

// StopPodSandbox releases a pod's network (endpoint, address, host ports);
// the sandbox stays, not ready. Stopping an unknown or stopped sandbox is
// no error: the kubelet retries.
func (s *Server) StopPodSandbox(ctx context.Context, req *runtimeapi.StopPodSandboxRequest) (*runtimeapi.StopPodSandboxResponse, error) {
	sb, err := s.getSandbox(req.GetPodSandboxId())
	if errdefs.IsNotFound(err) {
		return &runtimeapi.StopPodSandboxResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	if err := s.stopSandbox(ctx, &sb); err != nil {
		return nil, err
	}
	return &runtimeapi.StopPodSandboxResponse{}, nil
}

func (s *Server) stopSandbox(ctx context.Context, sb *sandbox) error {
	// Its containers first: the pod's namespaces are theirs.
	if s.Containers != nil {
		list, err := s.criContainers(sb.ID)
		if err != nil {
			return err
		}
		for _, c := range list {
			if c.State.Running() {
				zero := 0
				if err := s.Containers.Stop(ctx, c.ID, &zero, ""); err != nil && err != ctr.ErrNotModified {
					return err
				}
			}
		}
	}
	if sb.PausePid > 0 {
		stopPause(sb.PausePid)
		sb.PausePid = 0
		if err := s.putSandbox(*sb); err != nil {
			return err
		}
	}
	if !sb.Ready && len(sb.Attachments) == 0 {
		return nil
	}
	if !sb.HostNetwork && s.Networks != nil {
		if err := s.teardownPodNetwork(ctx, sb, sb.Attachments, sb.Ports); err != nil {
			return err
		}
	}
	sb.Ready, sb.Attachments, sb.Ports = false, nil, nil
	return s.putSandbox(*sb)
}
