package cri

import (
	"context"
	"strings"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	ctr "github.com/berth-dev/berth/internal/container"
)

// ContainerStats reports a running container's CPU and memory from its
// cgroup.
func (s *Server) ContainerStats(ctx context.Context, req *runtimeapi.ContainerStatsRequest) (*runtimeapi.ContainerStatsResponse, error) {
	c, err := s.getContainer(req.GetContainerId())
	if err != nil {
		return nil, err
	}
	return &runtimeapi.ContainerStatsResponse{Stats: s.containerStats(ctx, c)}, nil
}

// ListContainerStats reports the running containers' stats, filtered.
func (s *Server) ListContainerStats(ctx context.Context, req *runtimeapi.ListContainerStatsRequest) (*runtimeapi.ListContainerStatsResponse, error) {
	f := req.GetFilter()
	list, err := s.criContainers("")
	if err != nil {
		return nil, err
	}
	resp := &runtimeapi.ListContainerStatsResponse{}
	for i := range list {
		c := &list[i]
		if !c.State.Running() || f.GetId() != "" && !strings.HasPrefix(c.ID, f.GetId()) ||
			f.GetPodSandboxId() != "" && !strings.HasPrefix(c.Pod.SandboxID, f.GetPodSandboxId()) ||
			!matchLabels(criLabels(c), f.GetLabelSelector()) {
			continue
		}
		resp.Stats = append(resp.Stats, s.containerStats(ctx, c))
	}
	return resp, nil
}

func (s *Server) containerStats(ctx context.Context, c *ctr.Container) *runtimeapi.ContainerStats {
	now := time.Now().UnixNano()
	out := &runtimeapi.ContainerStats{
		Attributes: &runtimeapi.ContainerAttributes{Id: c.ID, Metadata: criMetadata(c), Labels: criLabels(c), Annotations: criAnnotations(c)},
		Cpu:        &runtimeapi.CpuUsage{Timestamp: now},
		Memory:     &runtimeapi.MemoryUsage{Timestamp: now},
	}
	if !c.State.Running() {
		return out
	}
	_, st, err := s.Containers.Stats(ctx, c.ID)
	if err != nil || st == nil {
		return out
	}
	out.Cpu.UsageCoreNanoSeconds = &runtimeapi.UInt64Value{Value: st.CPU.Usage.Total}
	usage := st.Memory.Usage.Usage
	// The working set, as the kubelet counts it: usage less inactive
	// file pages.
	ws := usage
	for _, k := range []string{"total_inactive_file", "inactive_file"} {
		if v, ok := st.Memory.Raw[k]; ok {
			if v < ws {
				ws -= v
			} else {
				ws = 0
			}
			break
		}
	}
	out.Memory.UsageBytes = &runtimeapi.UInt64Value{Value: usage}
	out.Memory.WorkingSetBytes = &runtimeapi.UInt64Value{Value: ws}
	if v, ok := st.Memory.Raw["total_rss"]; ok {
		out.Memory.RssBytes = &runtimeapi.UInt64Value{Value: v}
	} else if v, ok := st.Memory.Raw["anon"]; ok {
		out.Memory.RssBytes = &runtimeapi.UInt64Value{Value: v}
	}
	return out
}
