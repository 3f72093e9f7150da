package cri

import (
	"context"
	"encoding/json"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// PodSandboxStatus reports a sandbox: state, IPs, namespaces, labels.
// All of it comes from the sandbox's record (cached per metadata
// version) but the timestamp.
func (s *Server) PodSandboxStatus(ctx context.Context, req *runtimeapi.PodSandboxStatusRequest) (*runtimeapi.PodSandboxStatusResponse, error) {
	a, err := cached(s, podStatusKey{req.GetPodSandboxId(), req.GetVerbose()}, func() (*runtimeapi.PodSandboxStatusResponse, error) {
		return s.podSandboxStatus(req)
	})
	if err != nil {
		return nil, err
	}
	// A new response around the shared parts: only the time differs.
	return &runtimeapi.PodSandboxStatusResponse{Status: a.Status, Info: a.Info, ContainersStatuses: a.ContainersStatuses, Timestamp: time.Now().UnixNano()}, nil
}

func (s *Server) podSandboxStatus(req *runtimeapi.PodSandboxStatusRequest) (*runtimeapi.PodSandboxStatusResponse, error) {
	sb, err := s.getSandbox(req.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	cfg, err := sb.config()
	if err != nil {
		return nil, err
	}
	st := &runtimeapi.PodSandboxStatus{
		Id: sb.ID, Metadata: cfg.Metadata, State: stateOf(&sb), CreatedAt: sb.CreatedAt.UnixNano(),
		Labels: cfg.Labels, Annotations: cfg.Annotations, RuntimeHandler: sb.RuntimeHandler,
		Linux: &runtimeapi.LinuxPodSandboxStatus{Namespaces: &runtimeapi.Namespace{Options: namespaceOptions(cfg)}},
	}
	if !sb.HostNetwork && len(sb.IPs) > 0 {
		st.Network = &runtimeapi.PodSandboxNetworkStatus{Ip: sb.IPs[0]}
		for _, ip := range sb.IPs[1:] {
			st.Network.AdditionalIps = append(st.Network.AdditionalIps, &runtimeapi.PodIP{Ip: ip})
		}
	}
	resp := &runtimeapi.PodSandboxStatusResponse{Status: st}
	if req.GetVerbose() {
		b, _ := json.Marshal(map[string]any{"netns": s.netnsPath(&sb), "ipc": s.ipcPath(sb.ID), "uts": s.utsPath(sb.ID)})
		resp.Info = map[string]string{"info": string(b)}
	}
	return resp, nil
}

func namespaceOptions(cfg *runtimeapi.PodSandboxConfig) *runtimeapi.NamespaceOption {
	if o := cfg.GetLinux().GetSecurityContext().GetNamespaceOptions(); o != nil {
		return o
	}
	return &runtimeapi.NamespaceOption{}
}

// netnsPath is the pinned network namespace of a sandbox ("" on the
// node's network).
func (s *Server) netnsPath(sb *sandbox) string {
	if sb.HostNetwork || s.Networks == nil {
		return ""
	}
	return s.Networks.NetNSPath(sb.ID)
}
