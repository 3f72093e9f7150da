package cri

import (
	"context"

	"github.com/moby/moby/api/types/container"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berth-dev/berth/internal/errdefs"
)

// UpdateContainerResources changes a container's CPU and memory limits
// in place.
func (s *Server) UpdateContainerResources(ctx context.Context, req *runtimeapi.UpdateContainerResourcesRequest) (*runtimeapi.UpdateContainerResourcesResponse, error) {
	if req.Windows != nil {
		return nil, errdefs.InvalidArgument("Windows resources are not supported")
	}
	c, err := s.getContainer(req.GetContainerId())
	if err != nil {
		return nil, err
	}
	r := req.GetLinux()
	if r == nil {
		return &runtimeapi.UpdateContainerResourcesResponse{}, nil
	}
	res := container.Resources{CPUShares: r.CpuShares, CPUQuota: r.CpuQuota, CPUPeriod: r.CpuPeriod,
		Memory: r.MemoryLimitInBytes, CpusetCpus: r.CpusetCpus, CpusetMems: r.CpusetMems}
	if r.MemorySwapLimitInBytes > 0 {
		res.MemorySwap = r.MemorySwapLimitInBytes
	}
	if err := s.Containers.Update(ctx, c.ID, res, nil); err != nil {
		return nil, err
	}
	return &runtimeapi.UpdateContainerResourcesResponse{}, nil
}
