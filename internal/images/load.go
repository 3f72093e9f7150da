package images

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/reference"
	"github.com/berth-dev/berth/internal/unpack/compress"
)

// Load imports a docker-archive or OCI image layout tarball (optionally
// compressed). Blobs are verified on the way into the content store; the
// images are unpacked and tagged. It returns the names (or IDs) loaded.
func (s *Service) Load(ctx context.Context, r io.Reader, tmpDir string, progress func(Progress)) ([]string, error) {
	if progress == nil {
		progress = func(Progress) {}
	}
	// Layers come from the archive, not a registry: say so, as docker does.
	outer := progress
	progress = func(p Progress) {
		switch p.Status {
		case "Extracting":
			p.Status = "Loading layer"
		case "Pull complete":
			p.Status = "Loaded layer"
		case "Pulling fs layer", "Download complete", "Verifying Checksum", "Already exists":
			return
		}
		outer(p)
	}
	defer s.holdGC()()
	lease, err := s.Meta.CreateLease(leaseTTL)
	if err != nil {
		return nil, err
	}
	defer s.Meta.DeleteLease(lease)
	stage, err := os.MkdirTemp(tmpDir, "load-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(stage)
	ar := &archive{s: s, lease: lease, stage: stage, files: map[string]string{}, blobs: map[string]digest.Digest{}}
	if err := ar.read(ctx, r); err != nil {
		return nil, err
	}
	var loaded []string
	switch {
	case ar.files["manifest.json"] != "":
		loaded, err = ar.loadDocker(ctx, progress)
	case ar.files["index.json"] != "":
		loaded, err = ar.loadOCI(ctx, progress)
	default:
		return nil, errdefs.InvalidArgument("invalid image archive: no manifest.json or index.json (not a docker save or OCI layout tarball)")
	}
	if err != nil {
		return nil, err
	}
	s.scheduleSync()
	for _, n := range loaded {
		s.publish("load", "", n)
	}
	return loaded, nil
}

type archive struct {
	s     *Service
	lease string
	stage string
	files map[string]string        // archive path -> staged file
	blobs map[string]digest.Digest // archive path -> blob stored under its digest
}

const maxMetaFile = 16 << 20

func (a *archive) read(ctx context.Context, r io.Reader) error {
	dr, err := compress.Decompress(r)
	if err != nil {
		return errdefs.InvalidArgument("invalid image archive: %v", err)
	}
	defer dr.Close()
	tr := tar.NewReader(dr)
	n := 0
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if n == 0 {
				return errdefs.InvalidArgument("invalid image archive: not a tar file: %v", err)
			}
			return errdefs.InvalidArgument("invalid image archive: %v", err)
		}
		n++
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		name := path.Clean(strings.TrimPrefix(hdr.Name, "./"))
		if strings.HasPrefix(name, "../") || path.IsAbs(name) {
			return errdefs.InvalidArgument("invalid image archive: entry %q escapes the archive", hdr.Name)
		}
		// OCI layout blobs carry their digest in the name: verify them
		// straight into the store.
		if alg, hex, ok := blobName(name); ok {
			d := digest.NewDigestFromEncoded(digest.Algorithm(alg), hex)
			if d.Validate() == nil {
				if err := a.storeBlob(ctx, d, hdr.Size, tr); err != nil {
					return fmt.Errorf("invalid image archive: %s: %w", name, err)
				}
				a.blobs[name] = d
				continue
			}
		}
		// JSON metadata (manifest.json, configs, index.json) is staged;
		// everything else is a layer (<id>/layer.tar, <digest>.tar.gz),
		// hashed into the store on the way.
		if !strings.HasSuffix(name, ".json") && name != "repositories" && name != ocispec.ImageLayoutFile {
			d, err := a.storeUnknown(ctx, tr)
			if err != nil {
				return fmt.Errorf("invalid image archive: %s: %w", name, err)
			}
			a.blobs[name] = d
			continue
		}
		if hdr.Size > maxMetaFile {
			return errdefs.InvalidArgument("invalid image archive: %s is %d bytes; metadata files are limited to %d", name, hdr.Size, maxMetaFile)
		}
		p := filepath.Join(a.stage, fmt.Sprintf("f%d", n))
		b, err := io.ReadAll(io.LimitReader(tr, maxMetaFile))
		if err != nil {
			return errdefs.InvalidArgument("invalid image archive: %v", err)
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			return err
		}
		a.files[name] = p
	}
	if n == 0 {
		return errdefs.InvalidArgument("invalid image archive: empty tar file")
	}
	return nil
}

func blobName(name string) (alg, hex string, ok bool) {
	parts := strings.Split(name, "/")
	if len(parts) != 3 || parts[0] != "blobs" {
		return "", "", false
	}
	return parts[1], parts[2], true
}

func (a *archive) storeBlob(ctx context.Context, d digest.Digest, size int64, r io.Reader) error {
	if err := a.s.Meta.LeaseContent(a.lease, d.String()); err != nil {
		return err
	}
	w, err := a.s.Content.Writer(ctx, d, size)
	if errdefs.IsAlreadyExists(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer w.Close()
	if w.Offset() > 0 {
		if err := w.Truncate(0); err != nil {
			return err
		}
	}
	if _, err := io.Copy(w, r); err != nil {
		w.Discard()
		return err
	}
	return w.Commit()
}

// storeUnknown stores a file whose digest is only known after reading it.
func (a *archive) storeUnknown(ctx context.Context, r io.Reader) (digest.Digest, error) {
	f, err := os.CreateTemp(a.stage, "blob-")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	h := digest.SHA256.Digester()
	n, err := io.Copy(io.MultiWriter(f, h.Hash()), r)
	if err != nil {
		return "", err
	}
	d := h.Digest()
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	return d, a.storeBlob(ctx, d, n, f)
}

func (a *archive) readJSON(name string, v any) error {
	p, ok := a.files[name]
	if !ok {
		if d, ok := a.blobs[name]; ok {
			b, err := a.s.Content.ReadBlob(context.Background(), d, maxMetaFile)
			if err != nil {
				return err
			}
			return json.Unmarshal(b, v)
		}
		return errdefs.InvalidArgument("invalid image archive: %s is missing", name)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return errdefs.InvalidArgument("invalid image archive: %s: %v", name, err)
	}
	return nil
}

// loadDocker imports a docker-archive: manifest.json names the config
// and layer files; we synthesise a schema 2 manifest for them.
func (a *archive) loadDocker(ctx context.Context, progress func(Progress)) ([]string, error) {
	var entries []dockerManifestEntry
	if err := a.readJSON("manifest.json", &entries); err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		return nil, errdefs.InvalidArgument("invalid image archive: manifest.json lists no images")
	}
	var loaded []string
	for _, e := range entries {
		var cfgRaw []byte
		if d, ok := a.blobs[path.Clean(e.Config)]; ok {
			b, err := a.s.Content.ReadBlob(ctx, d, maxConfig)
			if err != nil {
				return nil, err
			}
			cfgRaw = b
		} else if p, ok := a.files[path.Clean(e.Config)]; ok {
			b, err := os.ReadFile(p)
			if err != nil {
				return nil, err
			}
			cfgRaw = b
		} else {
			return nil, errdefs.InvalidArgument("invalid image archive: config %q is missing", e.Config)
		}
		cfgDesc := ocispec.Descriptor{MediaType: MediaTypeDockerConfig, Digest: digest.FromBytes(cfgRaw), Size: int64(len(cfgRaw))}
		if err := a.s.Content.Put(ctx, cfgDesc.Digest, cfgRaw); err != nil {
			return nil, err
		}
		a.s.Meta.LeaseContent(a.lease, cfgDesc.Digest.String())
		man := ocispec.Manifest{MediaType: MediaTypeDockerManifest, Config: cfgDesc}
		man.SchemaVersion = 2
		for _, l := range e.Layers {
			d, ok := a.blobs[path.Clean(l)]
			if !ok {
				return nil, errdefs.InvalidArgument("invalid image archive: layer %q is missing", l)
			}
			info, err := a.s.Content.Info(ctx, d)
			if err != nil {
				return nil, err
			}
			mt, err := a.layerMediaType(ctx, d)
			if err != nil {
				return nil, err
			}
			man.Layers = append(man.Layers, ocispec.Descriptor{MediaType: mt, Digest: d, Size: info.Size})
		}
		raw, _ := json.Marshal(man)
		mdesc := ocispec.Descriptor{MediaType: MediaTypeDockerManifest, Digest: digest.FromBytes(raw), Size: int64(len(raw))}
		if err := a.s.Content.Put(ctx, mdesc.Digest, raw); err != nil {
			return nil, err
		}
		a.s.Meta.LeaseContent(a.lease, mdesc.Digest.String())
		names, err := a.register(ctx, mdesc, mdesc, e.RepoTags, progress)
		if err != nil {
			return nil, err
		}
		loaded = append(loaded, names...)
	}
	return loaded, nil
}

func (a *archive) layerMediaType(ctx context.Context, d digest.Digest) (string, error) {
	f, err := a.s.Content.Open(ctx, d)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var magic [4]byte
	n, _ := io.ReadFull(f, magic[:])
	switch {
	case n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		return MediaTypeDockerLayer, nil
	case n == 4 && bytes.Equal(magic[:], []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return ocispec.MediaTypeImageLayerZstd, nil
	}
	return ocispec.MediaTypeImageLayer, nil
}

// loadOCI imports an OCI layout: index.json lists manifests (or nested
// indexes), named by annotations.
func (a *archive) loadOCI(ctx context.Context, progress func(Progress)) ([]string, error) {
	var idx ocispec.Index
	if err := a.readJSON("index.json", &idx); err != nil {
		return nil, err
	}
	var loaded []string
	for _, d := range idx.Manifests {
		names := []string{}
		if n := d.Annotations["io.containerd.image.name"]; n != "" {
			names = append(names, n)
		} else if n := d.Annotations[ocispec.AnnotationRefName]; n != "" {
			if _, err := reference.Parse(n); err == nil && strings.ContainsAny(n, "/:") {
				names = append(names, n)
			}
		}
		target := d
		mdesc := d
		if IsIndex(d.MediaType) {
			raw, err := a.s.Content.ReadBlob(ctx, d.Digest, maxMetaFile)
			if err != nil {
				return nil, fmt.Errorf("invalid image archive: index %s: %w", d.Digest, err)
			}
			child, err := ParseIndex(raw)
			if err != nil {
				return nil, err
			}
			if mdesc, err = SelectManifest(child, DefaultPlatform()); err != nil {
				return nil, err
			}
		}
		got, err := a.register(ctx, target, mdesc, names, progress)
		if err != nil {
			return nil, err
		}
		loaded = append(loaded, got...)
	}
	if len(loaded) == 0 {
		return nil, errdefs.InvalidArgument("invalid image archive: index.json lists no images")
	}
	return loaded, nil
}

// register unpacks the manifest's layers and records the image under names.
func (a *archive) register(ctx context.Context, target, mdesc ocispec.Descriptor, names []string, progress func(Progress)) ([]string, error) {
	s := a.s
	mraw, err := s.Content.ReadBlob(ctx, mdesc.Digest, maxMetaFile)
	if err != nil {
		return nil, fmt.Errorf("invalid image archive: manifest %s: %w", mdesc.Digest, err)
	}
	man, err := ParseManifest(mraw)
	if err != nil {
		return nil, err
	}
	cfgRaw, err := s.Content.ReadBlob(ctx, man.Config.Digest, maxConfig)
	if err != nil {
		return nil, fmt.Errorf("invalid image archive: config %s: %w", man.Config.Digest, err)
	}
	cfg, err := ParseConfig(cfgRaw, len(man.Layers))
	if err != nil {
		return nil, err
	}
	for _, l := range man.Layers {
		if _, err := s.Content.Info(ctx, l.Digest); err != nil {
			return nil, errdefs.InvalidArgument("invalid image archive: layer %s is missing", l.Digest)
		}
	}
	chains := ChainIDs(cfg.RootFS.DiffIDs)
	img := Image{ID: man.Config.Digest, Target: target, Manifest: mdesc, Added: time.Now().UTC(),
		Platform: ocispec.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}}
	if img.Manifest.MediaType == "" {
		img.Manifest.MediaType = orDefault(man.MediaType, ocispec.MediaTypeImageManifest)
	}
	if cfg.Created != nil {
		img.Created = *cfg.Created
	}
	for i, l := range man.Layers {
		img.Layers = append(img.Layers, Layer{Blob: l, DiffID: cfg.RootFS.DiffIDs[i], ChainID: chains[i]})
	}
	sizes, err := s.fetchLayers(ctx, nil, a.lease, img.Layers, progress)
	if err != nil {
		return nil, err
	}
	for i, n := range sizes {
		img.Layers[i].Size = n
		img.Size += n
	}
	if len(names) == 0 {
		if _, err := s.record(img, reference.Reference{}, ""); err != nil {
			return nil, err
		}
		progress(Progress{Status: "Loaded image ID: " + img.ID.String()})
		return []string{img.ID.String()}, nil
	}
	var out []string
	for _, n := range names {
		ref, err := reference.Parse(n)
		if err != nil {
			return nil, fmt.Errorf("invalid image archive: %w", err)
		}
		if _, err := s.record(img, ref, ""); err != nil {
			return nil, err
		}
		progress(Progress{Status: "Loaded image: " + ref.Familiar()})
		out = append(out, ref.Familiar())
	}
	return out, nil
}
