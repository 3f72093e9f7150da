package cri

import (
	"time"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/events"
)

// GetContainerEvents streams the CRI containers' lifecycle events (the
// kubelet's evented PLEG) from berthd's event hub until the client leaves.
func (s *Server) GetContainerEvents(req *runtimeapi.GetEventsRequest, stream grpc.ServerStreamingServer[runtimeapi.ContainerEventResponse]) error {
	if s.Events == nil {
		return errdefs.Unavailable("no event hub")
	}
	ctx := stream.Context()
	_, ch := s.Events.Subscribe(ctx, time.Time{})
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-ch:
			if !ok {
				return nil
			}
			resp := s.containerEvent(e)
			if resp == nil {
				continue
			}
			if err := stream.Send(resp); err != nil {
				return err
			}
		}
	}
}

// containerEvent maps a berth event to the CRI's, for CRI containers.
func (s *Server) containerEvent(e events.Event) *runtimeapi.ContainerEventResponse {
	if e.Type != "container" || e.Attributes[labelNamespace] != criNamespace {
		return nil
	}
	var t runtimeapi.ContainerEventType
	switch e.Action {
	case "create":
		t = runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT
	case "start":
		t = runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT
	case "die":
		t = runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT
	case "destroy":
		t = runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT
	default:
		return nil
	}
	resp := &runtimeapi.ContainerEventResponse{ContainerId: e.ID, ContainerEventType: t, CreatedAt: e.Time.UnixNano()}
	if id := e.Attributes[labelSandbox]; id != "" {
		if sb, err := s.getSandbox(id); err == nil {
			if cfg, err := sb.config(); err == nil {
				resp.PodSandboxStatus = &runtimeapi.PodSandboxStatus{Id: sb.ID, Metadata: cfg.Metadata, State: stateOf(&sb),
					CreatedAt: sb.CreatedAt.UnixNano(), Labels: cfg.Labels, Annotations: cfg.Annotations}
			}
		}
	}
	return resp
}
