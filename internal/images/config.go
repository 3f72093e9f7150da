package images

import (
	"context"
	"slices"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Config reads an image's config blob.
func (s *Service) Config(ctx context.Context, img Image) (ocispec.Image, error) {
	b, err := s.Content.ReadBlob(ctx, img.ID, maxConfig)
	if err != nil {
		return ocispec.Image{}, err
	}
	return ParseConfig(b, -1)
}

// RawConfig returns the config blob as stored (inspect shows fields the
// OCI type does not model, e.g. Docker's Healthcheck).
func (s *Service) RawConfig(ctx context.Context, img Image) ([]byte, error) {
	return s.Content.ReadBlob(ctx, img.ID, maxConfig)
}

// RuntimeDefaults are what an image contributes to a container's spec.
type RuntimeDefaults struct {
	Env          []string
	Entrypoint   []string
	Cmd          []string
	User         string
	WorkingDir   string
	ExposedPorts []string // "80/tcp"
	Volumes      []string
	StopSignal   string
	Labels       map[string]string
}

// Defaults extracts the runtime defaults from an image config.
func Defaults(c ocispec.Image) RuntimeDefaults {
	d := RuntimeDefaults{
		Env: c.Config.Env, Entrypoint: c.Config.Entrypoint, Cmd: c.Config.Cmd,
		User: c.Config.User, WorkingDir: c.Config.WorkingDir, StopSignal: c.Config.StopSignal,
		Labels: c.Config.Labels,
	}
	for p := range c.Config.ExposedPorts {
		if !strings.Contains(p, "/") {
			p += "/tcp"
		}
		d.ExposedPorts = append(d.ExposedPorts, p)
	}
	for v := range c.Config.Volumes {
		d.Volumes = append(d.Volumes, v)
	}
	slices.Sort(d.ExposedPorts)
	slices.Sort(d.Volumes)
	return d
}
