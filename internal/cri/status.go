package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berth-dev/berth/internal/network"
)

// Status reports RuntimeReady and NetworkReady, as the kubelet expects.
func (s *Server) Status(ctx context.Context, req *runtimeapi.StatusRequest) (*runtimeapi.StatusResponse, error) {
	net := &runtimeapi.RuntimeCondition{Type: runtimeapi.NetworkReady, Status: true}
	if s.Networks == nil {
		net.Status, net.Reason, net.Message = false, "NetworkPluginNotReady", "networking is disabled"
	} else if err := s.Networks.Ready(); err != nil {
		net.Status, net.Reason, net.Message = false, "NetworkPluginNotReady", err.Error()
	} else if s.CNIConfDir != "" {
		if _, err := network.LoadConfDir(s.CNIConfDir); err != nil {
			net.Status, net.Reason, net.Message = false, "NetworkPluginNotReady", err.Error()
		}
	}
	resp := &runtimeapi.StatusResponse{
		Status: &runtimeapi.RuntimeStatus{Conditions: []*runtimeapi.RuntimeCondition{
			{Type: runtimeapi.RuntimeReady, Status: true},
			net,
		}},
		RuntimeHandlers: []*runtimeapi.RuntimeHandler{{Name: "", Features: &runtimeapi.RuntimeHandlerFeatures{RecursiveReadOnlyMounts: true}}},
		Features:        &runtimeapi.RuntimeFeatures{SupplementalGroupsPolicy: true},
	}
	if req.GetVerbose() {
		resp.Info = map[string]string{"runtimeName": RuntimeName, "runtimeVersion": s.RuntimeVersion}
	}
	return resp, nil
}
