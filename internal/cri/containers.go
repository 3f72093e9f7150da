package cri

import (
	"encoding/json"
	"strconv"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	ctr "github.com/berth-dev/berth/internal/container"
)

// Labels berth keeps on a CRI container (Docker labels of its record);
// the CRI's own labels are the others.
const (
	labelNamespace   = "io.berth.namespace" // "k8s.io": not shown by the Docker API
	labelSandbox     = "io.berth.cri.sandbox"
	labelName        = "io.berth.cri.name"
	labelAttempt     = "io.berth.cri.attempt"
	labelAnnotations = "io.berth.cri.annotations"
	labelImage       = "io.berth.cri.image" // the image as the kubelet named it
	criNamespace     = "k8s.io"
)

// isCRI reports whether a container is one of the CRI's.
func isCRI(c *ctr.Container) bool {
	return c.Pod != nil && c.Config.Labels[labelNamespace] == criNamespace
}

func criLabels(c *ctr.Container) map[string]string {
	out := map[string]string{}
	for k, v := range c.Config.Labels {
		if k != labelNamespace && !strings.HasPrefix(k, "io.berth.cri.") {
			out[k] = v
		}
	}
	return out
}

func criAnnotations(c *ctr.Container) map[string]string {
	out := map[string]string{}
	json.Unmarshal([]byte(c.Config.Labels[labelAnnotations]), &out)
	return out
}

func criMetadata(c *ctr.Container) *runtimeapi.ContainerMetadata {
	attempt, _ := strconv.ParseUint(c.Config.Labels[labelAttempt], 10, 32)
	return &runtimeapi.ContainerMetadata{Name: c.Config.Labels[labelName], Attempt: uint32(attempt)}
}

func criState(c *ctr.Container) runtimeapi.ContainerState {
	switch c.State.Status {
	case ctr.StatusCreated:
		return runtimeapi.ContainerState_CONTAINER_CREATED
	case ctr.StatusRunning, ctr.StatusPaused, ctr.StatusRestarting:
		return runtimeapi.ContainerState_CONTAINER_RUNNING
	case ctr.StatusExited, ctr.StatusDead:
		return runtimeapi.ContainerState_CONTAINER_EXITED
	}
	return runtimeapi.ContainerState_CONTAINER_UNKNOWN
}

// criContainers lists the CRI's containers, of one sandbox if given.
func (s *Server) criContainers(sandboxID string) ([]ctr.Container, error) {
	list, err := s.Containers.List()
	if err != nil {
		return nil, err
	}
	var out []ctr.Container
	for i := range list {
		c := &list[i]
		if isCRI(c) && (sandboxID == "" || c.Pod.SandboxID == sandboxID) {
			out = append(out, *c)
		}
	}
	return out, nil
}

// getContainer finds one of the CRI's containers.
func (s *Server) getContainer(id string) (*ctr.Container, error) {
	c, err := s.Containers.Get(id)
	if err != nil {
		return nil, err
	}
	if !isCRI(c) {
		return nil, notFound("container %s not found", id)
	}
	return c, nil
}
