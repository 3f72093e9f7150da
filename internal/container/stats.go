package container

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/linux/cgroups"
)

// Stats reads a running container's cgroup statistics (v1 or v2).
func (s *Service) Stats(ctx context.Context, term string) (*Container, *cgroups.Stats, error) {
	c, err := s.Get(term)
	if err != nil {
		return nil, nil, err
	}
	if !c.State.Running() {
		return c, nil, errdefs.Conflict("container %s is not running", c.ID[:12])
	}
	raw, err := os.ReadFile(filepath.Join(s.bundleDir(c.ID), "config.json"))
	if err != nil {
		return c, nil, err
	}
	var spec specs.Spec
	if err := json.Unmarshal(raw, &spec); err != nil || spec.Linux == nil {
		return c, nil, errdefs.Internal("container %s: unreadable spec", c.ID[:12])
	}
	m, err := cgroups.Open(spec.Linux.CgroupsPath, false)
	if err != nil {
		return c, nil, err
	}
	st, err := m.Stats()
	return c, st, err
}
