package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// BusyboxPath is Debian's static busybox (package busybox-static).
const BusyboxPath = "/bin/busybox"

// ErrNoBusybox is returned (wrapped) when BusyboxPath is missing.
var ErrNoBusybox = errors.New("busybox-static is not installed (" + BusyboxPath + "); run scripts/install-deps.sh")

// DefaultPath is the PATH of every image built here.
const DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Platform is an image platform; unlike v1.Platform it can be a map key.
type Platform struct {
	OS, Architecture, Variant string
}

// ParsePlatform reads "os/arch[/variant]", e.g. "linux/arm64/v8".
func ParsePlatform(s string) (Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return Platform{}, fmt.Errorf("platform %q: want os/arch[/variant]", s)
	}
	p := Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

// HostPlatform is linux/GOARCH, the platform the busybox binary runs on.
func HostPlatform() Platform { return Platform{OS: "linux", Architecture: runtime.GOARCH} }

func (p Platform) String() string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// V1 converts to go-containerregistry's type.
func (p Platform) V1() *v1.Platform {
	return &v1.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant}
}

// ImageOption tunes an image (or layer, or index) built here.
type ImageOption func(*imageOptions)

type layerSpec struct {
	files   []File
	layer   v1.Layer
	comment string
}

type imageOptions struct {
	compression Compression
	docker      bool
	platform    Platform
	created     time.Time
	layers      []layerSpec
	config      []func(*v1.Config)
	annotations map[string]string
}

func newImageOptions(opts []ImageOption) *imageOptions {
	o := &imageOptions{platform: HostPlatform(), created: Epoch}
	for _, opt := range opts {
		opt(o)
	}
	return o
}

// WithCompression sets the compression of the layers built for the image
// (gzip by default).
func WithCompression(c Compression) ImageOption { return func(o *imageOptions) { o.compression = c } }

// WithDockerMediaTypes builds Docker schema 2 manifests (and manifest
// lists, and Docker layer and config media types) instead of OCI ones.
func WithDockerMediaTypes() ImageOption { return func(o *imageOptions) { o.docker = true } }

// WithOCIMediaTypes builds OCI manifests and indexes (the default).
func WithOCIMediaTypes() ImageOption { return func(o *imageOptions) { o.docker = false } }

// WithPlatform sets the config's os, architecture and variant
// (linux/GOARCH by default).
func WithPlatform(p Platform) ImageOption { return func(o *imageOptions) { o.platform = p } }

// WithCreated sets the config's and history's creation time (Epoch by default).
func WithCreated(t time.Time) ImageOption { return func(o *imageOptions) { o.created = t.UTC() } }

// WithLayer adds a layer holding files, on top of what is there so far.
func WithLayer(files ...File) ImageOption {
	return func(o *imageOptions) { o.layers = append(o.layers, layerSpec{files: files}) }
}

// WithFiles adds a layer of regular files (mode 0644, uid 0) from a map of
// name to content, in name order.
func WithFiles(files map[string]string) ImageOption {
	var fl []File
	for _, name := range sortedKeys(files) {
		fl = append(fl, Reg(name, 0o644, files[name]))
	}
	return WithLayer(fl...)
}

// WithPrebuiltLayer adds l as the next layer, as it is.
func WithPrebuiltLayer(l v1.Layer) ImageOption {
	return func(o *imageOptions) { o.layers = append(o.layers, layerSpec{layer: l}) }
}

// WithConfig edits the runtime config after the defaults (Env PATH,
// Cmd ["sh"] for busybox images) are in place.
func WithConfig(f func(*v1.Config)) ImageOption {
	return func(o *imageOptions) { o.config = append(o.config, f) }
}

// WithEntrypoint sets Entrypoint.
func WithEntrypoint(args ...string) ImageOption {
	return WithConfig(func(c *v1.Config) { c.Entrypoint = args })
}

// WithCmd sets Cmd (nil clears it).
func WithCmd(args ...string) ImageOption {
	return WithConfig(func(c *v1.Config) { c.Cmd = args })
}

// WithEnv sets variables given as KEY=VALUE, replacing one of the same key.
func WithEnv(kv ...string) ImageOption {
	return WithConfig(func(c *v1.Config) {
		for _, e := range kv {
			key, _, _ := strings.Cut(e, "=")
			replaced := false
			for i, old := range c.Env {
				if k, _, _ := strings.Cut(old, "="); k == key {
					c.Env[i] = e
					replaced = true
					break
				}
			}
			if !replaced {
				c.Env = append(c.Env, e)
			}
		}
	})
}

// WithUser sets User ("name", "uid", "uid:gid", ...).
func WithUser(u string) ImageOption { return WithConfig(func(c *v1.Config) { c.User = u }) }

// WithWorkingDir sets WorkingDir.
func WithWorkingDir(d string) ImageOption { return WithConfig(func(c *v1.Config) { c.WorkingDir = d }) }

// WithExposedPorts adds ports such as "80/tcp" or "53/udp".
func WithExposedPorts(ports ...string) ImageOption {
	return WithConfig(func(c *v1.Config) {
		if c.ExposedPorts == nil {
			c.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range ports {
			c.ExposedPorts[p] = struct{}{}
		}
	})
}

// WithVolumes adds volume paths.
func WithVolumes(paths ...string) ImageOption {
	return WithConfig(func(c *v1.Config) {
		if c.Volumes == nil {
			c.Volumes = map[string]struct{}{}
		}
		for _, p := range paths {
			c.Volumes[p] = struct{}{}
		}
	})
}

// WithStopSignal sets StopSignal ("SIGUSR1", "9", ...).
func WithStopSignal(s string) ImageOption { return WithConfig(func(c *v1.Config) { c.StopSignal = s }) }

// WithLabels adds labels.
func WithLabels(labels map[string]string) ImageOption {
	return WithConfig(func(c *v1.Config) {
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		for k, v := range labels {
			c.Labels[k] = v
		}
	})
}

// WithAnnotations sets manifest (or index) annotations.
func WithAnnotations(a map[string]string) ImageOption {
	return func(o *imageOptions) {
		if o.annotations == nil {
			o.annotations = map[string]string{}
		}
		for k, v := range a {
			o.annotations[k] = v
		}
	}
}

// BusyboxFiles is the content of a busybox image's first layer: the
// directories programs expect, /bin/busybox with a symlink per applet,
// and /etc/passwd and /etc/group with root, daemon, nobody and an
// unprivileged "user" (1000:1000, also in group "wheel" (10)).
func BusyboxFiles() ([]File, error) {
	bin, err := os.ReadFile(BusyboxPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoBusybox
	} else if err != nil {
		return nil, err
	}
	out, err := exec.Command(BusyboxPath, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list: %w", BusyboxPath, err)
	}
	applets := strings.Fields(string(out))
	sort.Strings(applets)
	files := []File{
		Dir("bin", 0o755),
		Dir("dev", 0o755),
		Dir("etc", 0o755),
		Dir("home", 0o755),
		Dir("home/user", 0o755),
		Dir("proc", 0o555),
		Dir("root", 0o700),
		Dir("sys", 0o555),
		Dir("tmp", 0o1777),
		Dir("usr", 0o755),
		Dir("usr/bin", 0o755),
		Dir("var", 0o755),
		Dir("var/tmp", 0o1777),
		Reg("bin/busybox", 0o755, string(bin)),
	}
	files[4].Uid, files[4].Gid = 1000, 1000
	for _, a := range applets {
		if a != "busybox" {
			files = append(files, Symlink("bin/"+a, "busybox"))
		}
	}
	files = append(files,
		Reg("etc/passwd", 0o644, "root:x:0:0:root:/root:/bin/sh\n"+
			"daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"+
			"user:x:1000:1000:user:/home/user:/bin/sh\n"+
			"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"),
		Reg("etc/group", 0o644, "root:x:0:\n"+
			"daemon:x:1:\n"+
			"wheel:x:10:user\n"+
			"user:x:1000:\n"+
			"nogroup:x:65534:\n"),
	)
	return files, nil
}

// NewBusyboxImage builds a busybox image: layer 1 is BusyboxFiles, then
// the layers added with options; the config has Env PATH and Cmd ["sh"].
// The result is deterministic for a given /bin/busybox and options.
func NewBusyboxImage(opts ...ImageOption) (v1.Image, error) {
	files, err := BusyboxFiles()
	if err != nil {
		return nil, err
	}
	base := []ImageOption{
		func(o *imageOptions) {
			o.layers = append(o.layers, layerSpec{files: files, comment: "busybox rootfs from " + BusyboxPath})
		},
		WithEnv(DefaultPath),
		WithCmd("sh"),
	}
	return NewImage(append(base, opts...)...)
}

// NewImage builds an image from the layers and config set by opts alone
// (no layer at all if none is given); Env holds PATH.
func NewImage(opts ...ImageOption) (v1.Image, error) {
	o := newImageOptions(append([]ImageOption{WithEnv(DefaultPath)}, opts...))
	layers := make([]v1.Layer, 0, len(o.layers))
	comments := make([]string, 0, len(o.layers))
	for i, spec := range o.layers {
		l := spec.layer
		if l == nil {
			var err error
			if l, err = NewLayer(spec.files, WithCompression(o.compression), func(x *imageOptions) { x.docker = o.docker }); err != nil {
				return nil, fmt.Errorf("layer %d: %w", i+1, err)
			}
		}
		c := spec.comment
		if c == "" {
			c = fmt.Sprintf("layer %d", i+1)
		}
		layers = append(layers, l)
		comments = append(comments, c)
	}
	return assemble(o, layers, comments)
}

// assemble writes the config and manifest for layers.
func assemble(o *imageOptions, layers []v1.Layer, comments []string) (v1.Image, error) {
	cfg := v1.ConfigFile{
		Architecture: o.platform.Architecture,
		OS:           o.platform.OS,
		Variant:      o.platform.Variant,
		Created:      v1.Time{Time: o.created},
		RootFS:       v1.RootFS{Type: "layers"},
	}
	for _, f := range o.config {
		f(&cfg.Config)
	}
	manifestType, configType := types.OCIManifestSchema1, types.OCIConfigJSON
	if o.docker {
		manifestType, configType = types.DockerManifestSchema2, types.DockerConfigJSON
	}
	img := &builtImage{mediaType: manifestType, layers: map[v1.Hash]v1.Layer{}}
	m := v1.Manifest{SchemaVersion: 2, MediaType: manifestType, Annotations: o.annotations}
	for i, l := range layers {
		diffID, err := l.DiffID()
		if err != nil {
			return nil, err
		}
		desc, err := partial.Descriptor(l)
		if err != nil {
			return nil, err
		}
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, diffID)
		cfg.History = append(cfg.History, v1.History{
			Created:   v1.Time{Time: o.created},
			CreatedBy: "berth testutil/registry: " + comments[i],
		})
		m.Layers = append(m.Layers, *desc)
		img.layers[desc.Digest] = l
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	img.config = raw
	d, size, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	m.Config = v1.Descriptor{MediaType: configType, Size: size, Digest: d}
	if img.manifest, err = json.Marshal(m); err != nil {
		return nil, err
	}
	return partial.CompressedToImage(img)
}

// builtImage is the core partial.CompressedToImage completes.
type builtImage struct {
	mediaType types.MediaType
	manifest  []byte
	config    []byte
	layers    map[v1.Hash]v1.Layer
}

func (b *builtImage) MediaType() (types.MediaType, error) { return b.mediaType, nil }
func (b *builtImage) RawManifest() ([]byte, error)        { return b.manifest, nil }
func (b *builtImage) RawConfigFile() ([]byte, error)      { return b.config, nil }

func (b *builtImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if l, ok := b.layers[h]; ok {
		return l, nil
	}
	return nil, fmt.Errorf("image has no layer %s", h)
}

// NewIndex builds a multi-platform index (an OCI index, or a Docker
// manifest list with WithDockerMediaTypes) in platform order. An image
// whose config says another platform than its key gets its config
// rewritten to match. Only WithDockerMediaTypes/WithOCIMediaTypes and
// WithAnnotations matter here.
func NewIndex(images map[Platform]v1.Image, opts ...ImageOption) (v1.ImageIndex, error) {
	o := newImageOptions(opts)
	plats := make([]Platform, 0, len(images))
	for p := range images {
		plats = append(plats, p)
	}
	sort.Slice(plats, func(i, j int) bool { return plats[i].String() < plats[j].String() })
	var idx v1.ImageIndex = empty.Index
	mt := types.OCIImageIndex
	if o.docker {
		mt = types.DockerManifestList
	}
	idx = mutate.IndexMediaType(idx, mt)
	for _, p := range plats {
		img := images[p]
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if cf.OS != p.OS || cf.Architecture != p.Architecture || cf.Variant != p.Variant {
			cf = cf.DeepCopy()
			cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
			if img, err = mutate.ConfigFile(img, cf); err != nil {
				return nil, err
			}
		}
		desc, err := partial.Descriptor(img)
		if err != nil {
			return nil, err
		}
		desc.Platform = p.V1()
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: *desc})
	}
	if len(o.annotations) > 0 {
		idx = mutate.Annotations(idx, o.annotations).(v1.ImageIndex)
	}
	return idx, nil
}
