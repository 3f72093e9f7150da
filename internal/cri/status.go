package cri

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"sync"

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
		RuntimeHandlers: []*runtimeapi.RuntimeHandler{{Name: "", Features: &runtimeapi.RuntimeHandlerFeatures{
			RecursiveReadOnlyMounts: true, UserNamespaces: userNamespaces()}}},
		Features: &runtimeapi.RuntimeFeatures{SupplementalGroupsPolicy: true},
	}
	if req.GetVerbose() {
		// "config" names, as containerd's does, the directory under which
		// containers' root filesystems are mounted (critest probes it for
		// idmapped mounts).
		cfg, _ := json.Marshal(map[string]string{"stateDir": s.State})
		resp.Info = map[string]string{"runtimeName": RuntimeName, "runtimeVersion": s.RuntimeVersion, "config": string(cfg)}
	}
	return resp, nil
}

// userNamespaces says whether pods can have user namespaces here: the
// kernel lets us create them (and idmapped mounts, Linux 5.19 and later
// for overlayfs, are checked when a container starts).
var userNamespaces = sync.OnceValue(func() bool {
	b, err := os.ReadFile("/proc/sys/user/max_user_namespaces")
	return err == nil && strings.TrimSpace(string(b)) != "0"
})
