package container

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/moby/api/types/mount"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/snapshot"
	"github.com/berth-dev/berth/internal/specgen"
)

// resolveMounts turns -v, --mount and the image's VOLUME list into the
// container's mounts, creating named and anonymous volumes as needed.
func (s *Service) resolveMounts(binds []string, mounts []mount.Mount, imageVolumes []string) ([]Mount, error) {
	var out []Mount
	taken := map[string]bool{}
	for _, b := range binds {
		m, err := parseBind(b)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	for _, mm := range mounts {
		m, err := convertMount(mm)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	for i := range out {
		if taken[filepath.Clean(out[i].Destination)] {
			return nil, errdefs.InvalidArgument("duplicate mount point: %s", out[i].Destination)
		}
		taken[filepath.Clean(out[i].Destination)] = true
	}
	for _, v := range imageVolumes {
		if !taken[filepath.Clean(v)] {
			out = append(out, Mount{Type: "volume", Destination: v, Anonymous: true})
		}
	}
	for i := range out {
		m := &out[i]
		if m.Type != "volume" {
			continue
		}
		if s.Volumes == nil {
			return nil, errdefs.NotImplemented("volumes are not available")
		}
		v, err := s.Volumes.Create(m.Name, "", nil, nil, m.Anonymous)
		if err != nil {
			return nil, err
		}
		m.Name, m.Source = v.Name, v.Mountpoint
	}
	return out, nil
}

// parseBind reads -v source:destination[:options]; a source that is not
// an absolute path names a volume.
func parseBind(b string) (Mount, error) {
	parts := strings.Split(b, ":")
	if len(parts) == 1 {
		// -v /path: an anonymous volume at /path.
		if !filepath.IsAbs(parts[0]) {
			return Mount{}, errdefs.InvalidArgument("invalid volume specification: '%s': mount path must be absolute", b)
		}
		return Mount{Type: "volume", Destination: parts[0], Anonymous: true}, nil
	}
	if len(parts) > 3 {
		return Mount{}, errdefs.InvalidArgument("invalid volume specification: '%s'", b)
	}
	src, dst := parts[0], parts[1]
	if !filepath.IsAbs(dst) {
		return Mount{}, errdefs.InvalidArgument("invalid volume specification: '%s': mount path must be absolute", b)
	}
	m := Mount{Type: "volume", Name: src, Destination: dst}
	if filepath.IsAbs(src) {
		m = Mount{Type: "bind", Source: filepath.Clean(src), Destination: dst}
	}
	if len(parts) == 3 {
		for _, opt := range strings.Split(parts[2], ",") {
			switch opt {
			case "ro":
				m.ReadOnly = true
			case "rro":
				// Recursively read-only (mount_setattr): submounts too.
				m.ReadOnly = true
				m.Options = append(m.Options, "rro")
			case "rw", "z", "Z", "":
			case "nocopy":
				m.NoCopy = true
			case "private", "rprivate", "shared", "rshared", "slave", "rslave":
				m.Propagation = opt
			default:
				return Mount{}, errdefs.InvalidArgument("invalid mode: %s", opt)
			}
		}
	}
	if m.Type == "bind" {
		if _, err := os.Stat(src); os.IsNotExist(err) {
			// Docker creates a missing bind source as a directory.
			if err := os.MkdirAll(src, 0o755); err != nil {
				return Mount{}, fmt.Errorf("create bind source %s: %w", src, err)
			}
		}
	}
	return m, nil
}

// convertMount reads one --mount.
func convertMount(m mount.Mount) (Mount, error) {
	if !filepath.IsAbs(m.Target) {
		return Mount{}, errdefs.InvalidArgument("invalid mount config: mount path must be absolute: %q", m.Target)
	}
	switch m.Type {
	case mount.TypeBind:
		if !filepath.IsAbs(m.Source) {
			return Mount{}, errdefs.InvalidArgument("invalid mount config for type \"bind\": invalid mount path: %q mount path must be absolute", m.Source)
		}
		if _, err := os.Stat(m.Source); err != nil {
			return Mount{}, errdefs.InvalidArgument("invalid mount config for type \"bind\": bind source path does not exist: %s", m.Source)
		}
		sm := Mount{Type: "bind", Source: filepath.Clean(m.Source), Destination: m.Target, ReadOnly: m.ReadOnly}
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
		return Mount{Type: "tmpfs", Source: "tmpfs", Destination: m.Target, ReadOnly: m.ReadOnly, Options: opts}, nil
	case mount.TypeVolume:
		vm := Mount{Type: "volume", Name: m.Source, Destination: m.Target, ReadOnly: m.ReadOnly, Anonymous: m.Source == ""}
		if m.VolumeOptions != nil {
			vm.NoCopy = m.VolumeOptions.NoCopy
		}
		return vm, nil
	}
	return Mount{}, errdefs.InvalidArgument("invalid mount config: mount type unknown: %q", m.Type)
}

// specMounts turns the container's mounts into specgen's, copying the
// image's content into volumes on their first use (as Docker does).
func (s *Service) specMounts(ctx context.Context, c *Container, rootfs string) ([]specgen.Mount, error) {
	var out []specgen.Mount
	for _, m := range c.Mounts {
		sm := specgen.Mount{Type: m.Type, Source: m.Source, Destination: m.Destination, ReadOnly: m.ReadOnly, Propagation: m.Propagation, Options: m.Options}
		switch m.Type {
		case "bind":
			sm.Options = append(sm.Options, "rbind")
		case "volume":
			sm.Type = "bind"
			sm.Options = append(sm.Options, "rbind")
			if !m.NoCopy {
				if err := copyUp(ctx, rootfs, m.Destination, m.Source); err != nil {
					return nil, fmt.Errorf("volume %s: copy image content: %w", m.Name, err)
				}
			}
		}
		out = append(out, sm)
	}
	return out, nil
}

// copyUp fills an empty volume with what the image has at dest.
func copyUp(ctx context.Context, rootfs, dest, volumeDir string) error {
	entries, err := os.ReadDir(volumeDir)
	if err != nil || len(entries) > 0 {
		return err
	}
	src, err := securejoin.SecureJoin(rootfs, dest)
	if err != nil {
		return err
	}
	st, err := os.Lstat(src)
	if err != nil || !st.IsDir() {
		return nil // nothing there in the image
	}
	return snapshot.CopyTree(ctx, src, volumeDir)
}

// usesVolume reports whether c mounts volume name.
func usesVolume(c *Container, name string) bool {
	for _, m := range c.Mounts {
		if m.Type == "volume" && m.Name == name {
			return true
		}
	}
	return false
}

// VolumeUsers lists containers using a volume (volume.Store.InUse).
func (s *Service) VolumeUsers(name string) []string {
	list, _ := s.List()
	var out []string
	for i := range list {
		if usesVolume(&list[i], name) {
			out = append(out, list[i].ID)
		}
	}
	return out
}
