package cri

import (
	"context"
	"os"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	ctr "github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/metadata"
	"github.com/berth-dev/berth/internal/nspin"
)

// RemovePodSandbox stops a sandbox if needed and removes it with its
// namespaces and files; an unknown sandbox is no error.
func (s *Server) RemovePodSandbox(ctx context.Context, req *runtimeapi.RemovePodSandboxRequest) (*runtimeapi.RemovePodSandboxResponse, error) {
	sb, err := s.getSandbox(req.GetPodSandboxId())
	if errdefs.IsNotFound(err) {
		return &runtimeapi.RemovePodSandboxResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	if err := s.stopSandbox(ctx, &sb); err != nil {
		return nil, err
	}
	if s.Containers != nil {
		list, err := s.criContainers(sb.ID)
		if err != nil {
			return nil, err
		}
		for _, c := range list {
			if err := s.Containers.Remove(ctx, c.ID, ctr.RemoveOptions{Force: true, Volumes: true}); err != nil && !errdefs.IsNotFound(err) {
				return nil, err
			}
		}
	}
	if s.Containers != nil {
		// Files of containers removed earlier may still be going.
		s.Containers.Settle()
	}
	for _, p := range []string{s.utsPath(sb.ID), s.ipcPath(sb.ID), s.userPath(sb.ID)} {
		if err := nspin.Unpin(p); err != nil {
			return nil, err
		}
	}
	if err := os.RemoveAll(s.sandboxDir(sb.ID)); err != nil {
		return nil, err
	}
	err = s.Meta.Update(func(tx *metadata.Tx) error {
		if id, err := sandboxNames.Get(tx, sb.Name); err == nil && id == sb.ID {
			sandboxNames.Delete(tx, sb.Name)
		}
		return sandboxes.Delete(tx, sb.ID)
	})
	if err != nil {
		return nil, err
	}
	return &runtimeapi.RemovePodSandboxResponse{}, nil
}
