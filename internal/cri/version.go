package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Version reports the runtime and the CRI version it speaks.
func (s *Server) Version(ctx context.Context, req *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error) {
	return &runtimeapi.VersionResponse{
		Version:           "0.1.0", // the kubelet's version of the API types it knows
		RuntimeName:       RuntimeName,
		RuntimeVersion:    s.RuntimeVersion,
		RuntimeApiVersion: runtimeAPIVersion,
	}, nil
}
