package cri

import (
	"context"
	"encoding/json"
	"slices"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ContainerStatus reports a container's state, times, exit and mounts.
func (s *Server) ContainerStatus(ctx context.Context, req *runtimeapi.ContainerStatusRequest) (*runtimeapi.ContainerStatusResponse, error) {
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
	if u := s.Containers.ProcessUser(c.ID); u != nil {
		lu := &runtimeapi.LinuxContainerUser{Uid: int64(u.UID), Gid: int64(u.GID)}
		for _, g := range u.AdditionalGids {
			lu.SupplementalGroups = append(lu.SupplementalGroups, int64(g))
		}
		st.User = &runtimeapi.ContainerUser{Linux: lu}
	}
	resp := &runtimeapi.ContainerStatusResponse{Status: st}
	if req.GetVerbose() {
		b, _ := json.Marshal(map[string]any{"pid": c.State.Pid, "sandboxID": c.Pod.SandboxID, "runtime": c.Runtime})
		resp.Info = map[string]string{"info": string(b)}
	}
	return resp, nil
}
