package cri

import (
	"context"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ListContainers lists the CRI's containers, filtered by ID prefix, state,
// pod and labels.
// The kubelet relists every second: answers are cached per metadata
// version and filter.
func (s *Server) ListContainers(ctx context.Context, req *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	return cached(s, listKey{"containers", filterKey(req.GetFilter())}, func() (*runtimeapi.ListContainersResponse, error) {
		return s.listContainers(req)
	})
}

func (s *Server) listContainers(req *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	f := req.GetFilter()
	list, err := s.criContainers("")
	if err != nil {
		return nil, err
	}
	resp := &runtimeapi.ListContainersResponse{}
	for i := range list {
		c := &list[i]
		if f.GetId() != "" && !strings.HasPrefix(c.ID, f.GetId()) {
			continue
		}
		if f.GetPodSandboxId() != "" && !strings.HasPrefix(c.Pod.SandboxID, f.GetPodSandboxId()) {
			continue
		}
		if f.GetState() != nil && f.GetState().GetState() != criState(c) {
			continue
		}
		labels := criLabels(c)
		if !matchLabels(labels, f.GetLabelSelector()) {
			continue
		}
		resp.Containers = append(resp.Containers, &runtimeapi.Container{
			Id: c.ID, PodSandboxId: c.Pod.SandboxID, Metadata: criMetadata(c),
			Image: &runtimeapi.ImageSpec{Image: c.Config.Labels[labelImage]}, ImageRef: c.Image, ImageId: c.Image,
			State: criState(c), CreatedAt: c.Created.UnixNano(), Labels: labels, Annotations: criAnnotations(c),
		})
	}
	return resp, nil
}
