package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berth-dev/berth/internal/errdefs"
)

// Exec returns the URL where the kubelet streams a command in a running
// container.
func (s *Server) Exec(ctx context.Context, req *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error) {
	c, err := s.getContainer(req.GetContainerId())
	if err != nil {
		return nil, err
	}
	if !c.State.Running() {
		return nil, errdefs.FailedPrecondition("container %s is not running", c.ID[:12])
	}
	if len(req.GetCmd()) == 0 {
		return nil, errdefs.InvalidArgument("exec: no command")
	}
	if !req.Stdout && !req.Stderr && !req.Stdin {
		return nil, errdefs.InvalidArgument("exec: one of stdin, stdout and stderr must be set")
	}
	if req.Tty && req.Stderr {
		return nil, errdefs.InvalidArgument("exec: tty and stderr cannot both be set")
	}
	return s.stream.GetExec(req)
}
