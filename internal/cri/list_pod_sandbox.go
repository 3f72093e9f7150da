package cri

import (
	"context"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ListPodSandbox lists sandboxes, filtered by ID prefix, state and labels.
// Cached per metadata version and filter, as ListContainers.
func (s *Server) ListPodSandbox(ctx context.Context, req *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	return cached(s, listKey{"sandboxes", filterKey(req.GetFilter())}, func() (*runtimeapi.ListPodSandboxResponse, error) {
		return s.listPodSandbox(req)
	})
}

func (s *Server) listPodSandbox(req *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	list, err := s.listSandboxes()
	if err != nil {
		return nil, err
	}
	f := req.GetFilter()
	resp := &runtimeapi.ListPodSandboxResponse{}
	for i := range list {
		sb := &list[i]
		if f.GetId() != "" && !strings.HasPrefix(sb.ID, f.GetId()) {
			continue
		}
		if f.GetState() != nil && f.GetState().GetState() != stateOf(sb) {
			continue
		}
		cfg, err := sb.config()
		if err != nil {
			continue
		}
		if !matchLabels(cfg.Labels, f.GetLabelSelector()) {
			continue
		}
		resp.Items = append(resp.Items, &runtimeapi.PodSandbox{Id: sb.ID, Metadata: cfg.Metadata, State: stateOf(sb),
			CreatedAt: sb.CreatedAt.UnixNano(), Labels: cfg.Labels, Annotations: cfg.Annotations, RuntimeHandler: sb.RuntimeHandler})
	}
	return resp, nil
}

func matchLabels(labels, selector map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}
