package images

import (
	"context"
	"fmt"
	"slices"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/metadata"
	"github.com/berth-dev/berth/internal/reference"
	"github.com/berth-dev/berth/internal/registry"
)

// PushResult is what one pushed tag became.
type PushResult struct {
	Tag    string
	Digest string
	Size   int64
}

// Push uploads the image named ref (a local tag) to its registry: the
// platform manifest, config and layers. Blobs the registry has are
// skipped; blobs in another repository of the same registry are mounted.
func (s *Service) Push(ctx context.Context, ref reference.Reference, creds *registry.Credentials, progress func(Progress)) (PushResult, error) {
	if progress == nil {
		progress = func(Progress) {}
	}
	sum, err := s.Get(ctx, ref.String())
	if err != nil {
		return PushResult{}, fmt.Errorf("push %s: %w", ref.Familiar(), err)
	}
	img := sum.Image
	progress(Progress{Status: "The push refers to repository [" + ref.Repository() + "]"})
	repo := s.Registry.PushRepository(ref, creds)
	mraw, err := s.Content.ReadBlob(ctx, img.Manifest.Digest, registry.MaxManifestSize)
	if err != nil {
		return PushResult{}, fmt.Errorf("push %s: manifest: %w", ref.Familiar(), err)
	}
	blobs := make([]ocispec.Descriptor, 0, len(img.Layers)+1)
	for _, l := range img.Layers {
		blobs = append(blobs, l.Blob)
	}
	for _, l := range slices.Backward(blobs) {
		progress(Progress{ID: short(l.Digest), Status: "Preparing"})
	}
	blobs = append(blobs, ocispec.Descriptor{Digest: img.ID, Size: -1})
	for _, b := range blobs {
		if err := s.pushBlob(ctx, repo, ref, img, b, progress); err != nil {
			return PushResult{}, fmt.Errorf("push %s: %w", ref.Familiar(), err)
		}
	}
	tag := ref.Tag
	if tag == "" {
		tag = img.Manifest.Digest.String()
	}
	mt := img.Manifest.MediaType
	if mt == "" {
		mt = ocispec.MediaTypeImageManifest
	}
	if err := repo.PutManifest(ctx, tag, mt, mraw); err != nil {
		return PushResult{}, fmt.Errorf("push %s: %w", ref.Familiar(), err)
	}
	res := PushResult{Tag: ref.Tag, Digest: img.Manifest.Digest.String(), Size: int64(len(mraw))}
	progress(Progress{Status: fmt.Sprintf("%s: digest: %s size: %d", orDefault(ref.Tag, "latest"), res.Digest, res.Size)})
	rd := ref.Repository() + "@" + res.Digest
	s.Meta.Update(func(tx *metadata.Tx) error {
		cur, err := imagesTable.Get(tx, img.ID.String())
		if err != nil || slices.Contains(cur.RepoDigests, rd) {
			return err
		}
		cur.RepoDigests = append(cur.RepoDigests, rd)
		return imagesTable.Put(tx, img.ID.String(), cur)
	})
	s.publish("push", img.ID.String(), ref.String())
	return res, nil
}

func (s *Service) pushBlob(ctx context.Context, repo *registry.Repo, ref reference.Reference, img Image, b ocispec.Descriptor, progress func(Progress)) error {
	id := short(b.Digest)
	info, err := s.Content.Info(ctx, b.Digest)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return errdefs.FailedPrecondition("blob %s is not in the local store (the image was unpacked without keeping it); pull it again", b.Digest)
		}
		return err
	}
	isLayer := b.Size >= 0
	if ok, err := repo.BlobExists(ctx, b.Digest); err != nil {
		return err
	} else if ok {
		if isLayer {
			progress(Progress{ID: id, Status: "Layer already exists"})
		}
		return nil
	}
	// Cross-repository mount from a repository this image came from.
	for _, rd := range img.RepoDigests {
		src, err := reference.Parse(rd)
		if err != nil || src.Domain != ref.Domain || src.Path == ref.Path {
			continue
		}
		if ok, _ := repo.Mount(ctx, b.Digest, src.Path); ok {
			if isLayer {
				progress(Progress{ID: id, Status: "Mounted from " + src.FamiliarRepository()})
			}
			return nil
		}
	}
	f, err := s.Content.Open(ctx, b.Digest)
	if err != nil {
		return err
	}
	defer f.Close()
	last := time.Time{}
	err = repo.Upload(ctx, b.Digest, info.Size, f, func(n int64) {
		if isLayer && time.Since(last) > 100*time.Millisecond {
			last = time.Now()
			progress(Progress{ID: id, Status: "Pushing", Current: n, Total: info.Size})
		}
	})
	if err != nil {
		return err
	}
	if isLayer {
		progress(Progress{ID: id, Status: "Pushed"})
	}
	return nil
}

// Tags lists the local tags of a repository (push without a tag).
func (s *Service) Tags(ctx context.Context, repo reference.Reference) ([]reference.Reference, error) {
	var out []reference.Reference
	err := s.Meta.View(func(tx *metadata.Tx) error {
		for _, n := range namesTable.Keys(tx) {
			r, err := reference.Parse(n)
			if err == nil && r.Repository() == repo.Repository() {
				out = append(out, r)
			}
		}
		return nil
	})
	if err == nil && len(out) == 0 {
		err = errdefs.NotFound("An image does not exist locally with the tag: %s", repo.FamiliarRepository())
	}
	return out, err
}
