package images

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/reference"
)

// dockerManifestEntry is one image in a docker-archive's manifest.json.
type dockerManifestEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// Save writes images as one tarball that is both an OCI image layout and
// a docker-archive (manifest.json), the format docker save writes today.
// Blobs are stored as they are in the content store.
func (s *Service) Save(ctx context.Context, terms []string, w io.Writer) error {
	type entry struct {
		sum  Summary
		tags []string
	}
	var list []entry
	seen := map[digest.Digest]int{}
	for _, t := range terms {
		sum, err := s.Get(ctx, t)
		if err != nil {
			return err
		}
		var tags []string
		if r, err := reference.Parse(t); err == nil && r.Digest == "" && !isIDTerm(t, sum.ID) {
			tags = []string{r.String()} // save only the named tag
		} else if err == nil && r.Digest == "" {
			tags = sum.RepoTags
		} else if isIDTerm(t, sum.ID) {
			tags = nil
		}
		if i, ok := seen[sum.ID]; ok {
			list[i].tags = append(list[i].tags, tags...)
			continue
		}
		seen[sum.ID] = len(list)
		list = append(list, entry{sum: sum, tags: tags})
	}
	tw := tar.NewWriter(w)
	now := time.Unix(0, 0)
	written := map[digest.Digest]bool{}
	addFile := func(name string, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), ModTime: now, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	addBlob := func(d digest.Digest) error {
		if written[d] {
			return nil
		}
		written[d] = true
		f, err := s.Content.Open(ctx, d)
		if err != nil {
			return fmt.Errorf("save: blob %s: %w", d, err)
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: "blobs/" + d.Algorithm().String() + "/" + d.Encoded(), Mode: 0o444, Size: st.Size(), ModTime: now, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err = io.Copy(tw, f)
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: "blobs/", Mode: 0o755, ModTime: now, Typeflag: tar.TypeDir}); err != nil {
		return err
	}
	tw.WriteHeader(&tar.Header{Name: "blobs/sha256/", Mode: 0o755, ModTime: now, Typeflag: tar.TypeDir})
	var index ocispec.Index
	index.SchemaVersion = 2
	index.MediaType = ocispec.MediaTypeImageIndex
	var manifest []dockerManifestEntry
	for _, e := range list {
		img := e.sum.Image
		for _, d := range append([]digest.Digest{img.Manifest.Digest, img.ID}, layerDigests(img)...) {
			if err := addBlob(d); err != nil {
				return err
			}
		}
		me := dockerManifestEntry{Config: "blobs/sha256/" + img.ID.Encoded(), RepoTags: []string{}}
		for _, l := range img.Layers {
			me.Layers = append(me.Layers, "blobs/sha256/"+l.Blob.Digest.Encoded())
		}
		desc := img.Manifest
		desc.Platform = &img.Platform
		if len(e.tags) == 0 {
			index.Manifests = append(index.Manifests, desc)
		}
		slices.Sort(e.tags)
		for _, t := range slices.Compact(e.tags) {
			r, err := reference.Parse(t)
			if err != nil {
				continue
			}
			me.RepoTags = append(me.RepoTags, r.Familiar())
			d := desc
			d.Annotations = map[string]string{
				"io.containerd.image.name": r.String(),
				ocispec.AnnotationRefName:  r.Tag,
			}
			index.Manifests = append(index.Manifests, d)
		}
		manifest = append(manifest, me)
	}
	layout, _ := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	idx, _ := json.Marshal(index)
	man, _ := json.Marshal(manifest)
	for _, f := range []struct {
		name string
		b    []byte
	}{{ocispec.ImageLayoutFile, layout}, {"index.json", idx}, {"manifest.json", man}} {
		if err := addFile(f.name, f.b); err != nil {
			return err
		}
	}
	for _, e := range list {
		s.publish("save", e.sum.ID.String(), "")
	}
	return tw.Close()
}

func layerDigests(img Image) []digest.Digest {
	out := make([]digest.Digest, 0, len(img.Layers))
	for _, l := range img.Layers {
		out = append(out, l.Blob.Digest)
	}
	return out
}
