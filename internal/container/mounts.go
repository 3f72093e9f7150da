package container

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/moby/api/types/mount"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/specgen"
)

// parseBinds reads -v host:container[:options].
func parseBinds(binds []string) ([]specgen.Mount, error) {
	var out []specgen.Mount
	for _, b := range binds {
		parts := strings.Split(b, ":")
		if len(parts) < 2 || len(parts) > 3 {
			return nil, errdefs.InvalidArgument("invalid volume specification: '%s'", b)
		}
		src, dst := parts[0], parts[1]
		if !filepath.IsAbs(src) {
			return nil, errdefs.NotImplemented("named volume %q: named volumes are not supported yet; bind a host path", src)
		}
		if !filepath.IsAbs(dst) {
			return nil, errdefs.InvalidArgument("invalid volume specification: '%s': mount path must be absolute", b)
		}
		m := specgen.Mount{Type: "bind", Source: src, Destination: dst, Options: []string{"rbind"}}
		if len(parts) == 3 {
			for _, opt := range strings.Split(parts[2], ",") {
				switch opt {
				case "ro":
					m.ReadOnly = true
				case "rw", "z", "Z", "nocopy", "":
				case "private", "rprivate", "shared", "rshared", "slave", "rslave":
					m.Propagation = opt
				default:
					return nil, errdefs.InvalidArgument("invalid mode: %s", opt)
				}
			}
		}
		if _, err := os.Stat(src); os.IsNotExist(err) {
			// Docker creates a missing bind source as a directory.
			if err := os.MkdirAll(src, 0o755); err != nil {
				return nil, fmt.Errorf("create bind source %s: %w", src, err)
			}
		}
		out = append(out, m)
	}
	return out, nil
}

// convertMount reads one --mount.
func convertMount(m mount.Mount) (specgen.Mount, error) {
	if !filepath.IsAbs(m.Target) {
		return specgen.Mount{}, errdefs.InvalidArgument("invalid mount config: mount path must be absolute: %q", m.Target)
	}
	switch m.Type {
	case mount.TypeBind:
		if !filepath.IsAbs(m.Source) {
			return specgen.Mount{}, errdefs.InvalidArgument("invalid mount config for type \"bind\": invalid mount path: %q mount path must be absolute", m.Source)
		}
		if _, err := os.Stat(m.Source); err != nil {
			return specgen.Mount{}, errdefs.InvalidArgument("invalid mount config for type \"bind\": bind source path does not exist: %s", m.Source)
		}
		sm := specgen.Mount{Type: "bind", Source: m.Source, Destination: m.Target, ReadOnly: m.ReadOnly, Options: []string{"rbind"}}
		if m.BindOptions != nil && m.BindOptions.Propagation != "" {
			sm.Propagation = string(m.BindOptions.Propagation)
		}
		return sm, nil
	case mount.TypeTmpfs:
		opts := []string{"nosuid", "nodev"}
		if m.TmpfsOptions != nil {
			if m.TmpfsOptions.SizeBytes > 0 {
				opts = append(opts, fmt.Sprintf("size=%d", m.TmpfsOptions.SizeBytes))
			}
			if mode := m.TmpfsOptions.Mode; mode != 0 {
				perm := uint32(mode.Perm())
				if mode&os.ModeSticky != 0 {
					perm |= 0o1000
				}
				opts = append(opts, fmt.Sprintf("mode=%o", perm))
			}
		}
		return specgen.Mount{Type: "tmpfs", Source: "tmpfs", Destination: m.Target, ReadOnly: m.ReadOnly, Options: opts}, nil
	case mount.TypeVolume:
		return specgen.Mount{}, errdefs.NotImplemented("volume mounts are not supported yet; use type=bind or type=tmpfs")
	}
	return specgen.Mount{}, errdefs.InvalidArgument("invalid mount config: mount type unknown: %q", m.Type)
}
