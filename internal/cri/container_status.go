package cri

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	ctr "github.com/berth-dev/berth/internal/container"
)

// ContainerStatus reports a container's state, times, exit and mounts.
func (s *Server) ContainerStatus(ctx context.Context, req *runtimeapi.ContainerStatusRequest) (*runtimeapi.ContainerStatusResponse, error) {
	// All of it comes from the container's record.
	return cached(s, containerStatusKey{req.GetContainerId(), req.GetVerbose()}, func() (*runtimeapi.ContainerStatusResponse, error) {
		return s.containerStatus(req)
	})
}

func (s *Server) containerStatus(req *runtimeapi.ContainerStatusRequest) (*runtimeapi.ContainerStatusResponse, error) {
	c, err := s.getContainer(req.GetContainerId())
	if err != nil {
		return nil, err
	}
	st := &runtimeapi.ContainerStatus{
		Id: c.ID, Metadata: criMetadata(c), State: criState(c), CreatedAt: c.Created.UnixNano(),
		Image: &runtimeapi.ImageSpec{Image: c.Config.Labels[labelImage]}, ImageRef: c.Image,
		Labels: criLabels(c), Annotations: criAnnotations(c), LogPath: c.CRILogPath,
	}
	if !c.State.StartedAt.IsZero() {
		st.StartedAt = c.State.StartedAt.UnixNano()
	}
	if st.State == runtimeapi.ContainerState_CONTAINER_EXITED {
		st.FinishedAt = c.State.FinishedAt.UnixNano()
		st.ExitCode = int32(c.State.ExitCode)
		switch {
		case c.State.OOMKilled:
			st.Reason = "OOMKilled"
		case c.State.ExitCode == 0:
			st.Reason = "Completed"
		default:
			st.Reason = "Error"
		}
		st.Message = c.State.Error
	}
	for _, m := range c.Mounts {
		cm := &runtimeapi.Mount{ContainerPath: m.Destination, HostPath: m.Source, Readonly: m.ReadOnly,
			RecursiveReadOnly: slices.Contains(m.Options, "rro")}
		switch m.Propagation {
		case "rslave", "slave":
			cm.Propagation = runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER
		case "rshared", "shared":
			cm.Propagation = runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL
		}
		st.Mounts = append(st.Mounts, cm)
	}
	st.User = s.processUser(c)
	resp := &runtimeapi.ContainerStatusResponse{Status: st}
	if req.GetVerbose() {
		b, _ := json.Marshal(map[string]any{"pid": c.State.Pid, "sandboxID": c.Pod.SandboxID, "runtime": c.Runtime})
		resp.Info = map[string]string{"info": string(b)}
	}
	return resp, nil
}

// processUser is the user a started container's process runs as,
// remembered per start (reading it means parsing the bundle's spec, and
// the kubelet asks for container status often).
func (s *Server) processUser(c *ctr.Container) *runtimeapi.ContainerUser {
	if c.State.StartedAt.IsZero() {
		return nil
	}
	key := c.ID + "@" + c.State.StartedAt.String()
	if v, ok := s.userCache.Load(key); ok {
		return v.(*runtimeapi.ContainerUser)
	}
	u := c.State.User
	if u == nil {
		u = s.Containers.ProcessUser(c.ID)
	}
	if u == nil {
		return nil
	}
	lu := &runtimeapi.LinuxContainerUser{Uid: int64(u.UID), Gid: int64(u.GID)}
	for _, g := range u.AdditionalGids {
		lu.SupplementalGroups = append(lu.SupplementalGroups, int64(g))
	}
	cu := &runtimeapi.ContainerUser{Linux: lu}
	s.userCache.Store(key, cu)
	return cu
}

// forgetUser drops what processUser remembers of a removed container.
func (s *Server) forgetUser(id string) {
	s.userCache.Range(func(k, _ any) bool {
		if key, ok := k.(string); ok && strings.HasPrefix(key, id+"@") {
			s.userCache.Delete(k)
		}
		return true
	})
}
