package images

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/registry"
)

// Media types beyond the OCI ones.
const (
	MediaTypeDockerManifest = registry.MediaTypeDockerManifest
	MediaTypeDockerList     = registry.MediaTypeDockerList
	MediaTypeDockerConfig   = "application/vnd.docker.container.image.v1+json"
	MediaTypeDockerLayer    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	MediaTypeDockerForeign  = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
)

// Limits on what a manifest may describe; far above real images.
const (
	maxLayers    = 1000
	maxManifests = 1000
	maxConfig    = 8 << 20
)

// IsIndex reports whether mt is an index or manifest list.
func IsIndex(mt string) bool { return mt == ocispec.MediaTypeImageIndex || mt == MediaTypeDockerList }

// IsManifest reports whether mt is an image manifest.
func IsManifest(mt string) bool {
	return mt == ocispec.MediaTypeImageManifest || mt == MediaTypeDockerManifest
}

// isLayer reports whether mt is a layer we can unpack.
func isLayer(mt string) bool {
	switch mt {
	case ocispec.MediaTypeImageLayer, ocispec.MediaTypeImageLayerGzip, ocispec.MediaTypeImageLayerZstd,
		MediaTypeDockerLayer, ocispec.MediaTypeImageLayerNonDistributable, ocispec.MediaTypeImageLayerNonDistributableGzip,
		ocispec.MediaTypeImageLayerNonDistributableZstd, MediaTypeDockerForeign:
		return true
	}
	return false
}

func checkDescriptor(what string, d ocispec.Descriptor) error {
	if err := d.Digest.Validate(); err != nil {
		return errdefs.InvalidArgument("%s: invalid digest %q: %v", what, d.Digest, err)
	}
	if d.Size < 0 {
		return errdefs.InvalidArgument("%s %s: negative size %d", what, d.Digest, d.Size)
	}
	return nil
}

// ParseIndex decodes and validates an OCI index or Docker manifest list.
func ParseIndex(b []byte) (ocispec.Index, error) {
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return idx, errdefs.InvalidArgument("malformed image index: %v", err)
	}
	if idx.MediaType != "" && !IsIndex(idx.MediaType) {
		return idx, errdefs.InvalidArgument("image index has media type %q", idx.MediaType)
	}
	if len(idx.Manifests) > maxManifests {
		return idx, errdefs.InvalidArgument("image index lists %d manifests (limit %d)", len(idx.Manifests), maxManifests)
	}
	for _, m := range idx.Manifests {
		if err := checkDescriptor("index entry", m); err != nil {
			return idx, err
		}
	}
	return idx, nil
}

// ParseManifest decodes and validates an image manifest.
func ParseManifest(b []byte) (ocispec.Manifest, error) {
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return m, errdefs.InvalidArgument("malformed image manifest: %v", err)
	}
	if m.MediaType != "" && !IsManifest(m.MediaType) {
		return m, errdefs.InvalidArgument("image manifest has media type %q", m.MediaType)
	}
	if err := checkDescriptor("config", m.Config); err != nil {
		return m, err
	}
	if m.Config.Size > maxConfig {
		return m, errdefs.InvalidArgument("image config of %d bytes exceeds the %d-byte limit", m.Config.Size, maxConfig)
	}
	if len(m.Layers) > maxLayers {
		return m, errdefs.InvalidArgument("image manifest lists %d layers (limit %d)", len(m.Layers), maxLayers)
	}
	for _, l := range m.Layers {
		if err := checkDescriptor("layer", l); err != nil {
			return m, err
		}
		if !isLayer(l.MediaType) {
			return m, errdefs.NotImplemented("layer %s has unsupported media type %q", l.Digest, l.MediaType)
		}
	}
	return m, nil
}

// ParseConfig decodes an image config and checks its layer list against
// the manifest's.
func ParseConfig(b []byte, layers int) (ocispec.Image, error) {
	var c ocispec.Image
	if err := json.Unmarshal(b, &c); err != nil {
		return c, errdefs.InvalidArgument("malformed image config: %v", err)
	}
	if c.RootFS.Type != "layers" {
		return c, errdefs.InvalidArgument("image config: rootfs type %q, want \"layers\"", c.RootFS.Type)
	}
	if layers >= 0 && len(c.RootFS.DiffIDs) != layers {
		return c, errdefs.InvalidArgument("image config lists %d diff_ids for %d layers", len(c.RootFS.DiffIDs), layers)
	}
	for _, d := range c.RootFS.DiffIDs {
		if err := d.Validate(); err != nil {
			return c, errdefs.InvalidArgument("image config: invalid diff_id %q: %v", d, err)
		}
	}
	return c, nil
}

// ChainIDs returns the chain ID of every layer prefix: the name of the
// committed snapshot holding layers 0..i.
func ChainIDs(diffIDs []digest.Digest) []digest.Digest {
	out := make([]digest.Digest, len(diffIDs))
	for i, d := range diffIDs {
		if i == 0 {
			out[i] = d
			continue
		}
		out[i] = digest.FromString(out[i-1].String() + " " + d.String())
	}
	return out
}

// DefaultPlatform is the platform this daemon runs images for.
func DefaultPlatform() ocispec.Platform {
	p := ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH}
	if runtime.GOARCH == "arm64" {
		p.Variant = "v8"
	}
	return p
}

// ParsePlatform reads "os[/arch[/variant]]" (--platform).
func ParsePlatform(s string) (ocispec.Platform, error) {
	if s == "" {
		return DefaultPlatform(), nil
	}
	parts := strings.Split(strings.ToLower(s), "/")
	if len(parts) > 3 || parts[0] == "" {
		return ocispec.Platform{}, errdefs.InvalidArgument("invalid platform %q: want os[/arch[/variant]]", s)
	}
	p := ocispec.Platform{OS: parts[0], Architecture: runtime.GOARCH}
	if len(parts) > 1 {
		p.Architecture = parts[1]
	}
	if len(parts) > 2 {
		p.Variant = parts[2]
	}
	switch p.Architecture {
	case "x86_64", "x86-64":
		p.Architecture = "amd64"
	case "aarch64":
		p.Architecture, p.Variant = "arm64", orDefault(p.Variant, "v8")
	}
	if p.Architecture == "arm64" && p.Variant == "" {
		p.Variant = "v8"
	}
	return p, nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// PlatformString formats p as os/arch[/variant].
func PlatformString(p ocispec.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// matches reports whether an index entry's platform can run as want.
func matches(have *ocispec.Platform, want ocispec.Platform) bool {
	if have == nil {
		return false
	}
	if have.OS != want.OS || have.Architecture != want.Architecture {
		return false
	}
	hv, wv := have.Variant, want.Variant
	if have.Architecture == "arm64" {
		hv, wv = orDefault(hv, "v8"), orDefault(wv, "v8")
	}
	return wv == "" || hv == wv
}

// SelectManifest picks want's manifest from an index. Attestation
// manifests (platform unknown/unknown) never match.
func SelectManifest(idx ocispec.Index, want ocispec.Platform) (ocispec.Descriptor, error) {
	var avail []string
	for _, m := range idx.Manifests {
		if !IsManifest(m.MediaType) && m.MediaType != "" {
			continue
		}
		if matches(m.Platform, want) {
			return m, nil
		}
		if m.Platform != nil && m.Platform.OS != "unknown" {
			avail = append(avail, PlatformString(*m.Platform))
		}
	}
	return ocispec.Descriptor{}, errdefs.NotFound("no matching manifest for %s in the manifest list entries (available: %s)",
		PlatformString(want), strings.Join(avail, ", "))
}

// describe names a descriptor in errors.
func describe(d ocispec.Descriptor) string { return fmt.Sprintf("%s (%s)", d.Digest, d.MediaType) }
