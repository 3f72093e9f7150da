package images

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/gc"
	"github.com/berth-dev/berth/internal/metadata"
	"github.com/berth-dev/berth/internal/reference"
)

// record stores img and points ref's tag at it. It reports whether the
// tag moved (or the image is new): Docker's "Downloaded newer image".
func (s *Service) record(img Image, ref reference.Reference, repoDigest string) (fresh bool, err error) {
	err = s.Meta.Update(func(tx *metadata.Tx) error {
		old, gerr := imagesTable.Get(tx, img.ID.String())
		if gerr == nil {
			img.RepoDigests = old.RepoDigests
			img.Added = old.Added
		} else {
			fresh = true
		}
		if len(s.SyncDirs) > 0 && (gerr != nil || old.Unsynced != "") {
			img.Unsynced = bootID()
		}
		if repoDigest != "" && !slices.Contains(img.RepoDigests, repoDigest) {
			img.RepoDigests = append(img.RepoDigests, repoDigest)
		}
		if err := imagesTable.Put(tx, img.ID.String(), img); err != nil {
			return err
		}
		if ref.Tag != "" {
			name := ref.WithTag(ref.Tag).String()
			prev, perr := namesTable.Get(tx, name)
			if perr != nil || prev != img.ID {
				fresh = true
			}
			return namesTable.Put(tx, name, img.ID)
		}
		return nil
	})
	return fresh, err
}

// Summary is an image with its names, for listings and inspect.
type Summary struct {
	Image
	RepoTags []string // canonical names (docker.io/library/busybox:latest)
}

// List returns every image with its tags, newest first.
func (s *Service) List(ctx context.Context) ([]Summary, error) {
	var out []Summary
	err := s.Meta.View(func(tx *metadata.Tx) error {
		tags := map[digest.Digest][]string{}
		if err := namesTable.Each(tx, func(name string, id digest.Digest) error {
			tags[id] = append(tags[id], name)
			return nil
		}); err != nil {
			return err
		}
		return imagesTable.Each(tx, func(_ string, img Image) error {
			out = append(out, Summary{Image: img, RepoTags: tags[img.ID]})
			return nil
		})
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Added.After(out[j].Added) })
	return out, err
}

// Get resolves what a user typed: a name (busybox, busybox:1.36,
// repo@digest), a full image ID or a unique ID prefix.
func (s *Service) Get(ctx context.Context, term string) (Summary, error) {
	var sum Summary
	err := s.Meta.View(func(tx *metadata.Tx) error {
		id, err := resolve(tx, term)
		if err != nil {
			return err
		}
		img, err := imagesTable.Get(tx, id.String())
		if err != nil {
			return err
		}
		sum.Image = img
		return namesTable.Each(tx, func(name string, nid digest.Digest) error {
			if nid == id {
				sum.RepoTags = append(sum.RepoTags, name)
			}
			return nil
		})
	})
	return sum, err
}

func resolve(tx *metadata.Tx, term string) (digest.Digest, error) {
	if reference.IsDigestID(term) {
		id := digest.Digest(term)
		if !strings.HasPrefix(term, "sha256:") {
			id = digest.Digest("sha256:" + term)
		}
		if imagesTable.Has(tx, id.String()) {
			return id, nil
		}
	}
	if ref, err := reference.Parse(term); err == nil {
		if ref.Digest != "" {
			want := ref.Repository() + "@" + ref.Digest.String()
			var found digest.Digest
			imagesTable.Each(tx, func(_ string, img Image) error {
				if slices.Contains(img.RepoDigests, want) || (img.ID == ref.Digest) {
					found = img.ID
				}
				return nil
			})
			if found != "" {
				return found, nil
			}
		} else if id, err := namesTable.Get(tx, ref.String()); err == nil {
			return id, nil
		}
	}
	// A unique prefix of an image ID, as docker accepts ("3f57d9401f8d").
	p := strings.TrimPrefix(term, "sha256:")
	if len(p) > 0 && len(p) < 64 && isHex(p) {
		var match []string
		for _, k := range imagesTable.Keys(tx) {
			if strings.HasPrefix(strings.TrimPrefix(k, "sha256:"), p) {
				match = append(match, k)
			}
		}
		if len(match) == 1 {
			return digest.Digest(match[0]), nil
		}
		if len(match) > 1 {
			return "", errdefs.InvalidArgument("image ID prefix %q is ambiguous (%d images)", term, len(match))
		}
	}
	return "", errdefs.NotFound("No such image: %s", term)
}

func isHex(s string) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Tag points target at the image source names.
func (s *Service) Tag(ctx context.Context, source, target string) error {
	ref, err := reference.Parse(target)
	if err != nil {
		return err
	}
	if ref.Digest != "" {
		return errdefs.InvalidArgument("refusing to create a tag with a digest reference: %s", target)
	}
	err = s.Meta.Update(func(tx *metadata.Tx) error {
		id, err := resolve(tx, source)
		if err != nil {
			return err
		}
		return namesTable.Put(tx, ref.String(), id)
	})
	if err == nil {
		s.publish("tag", "", ref.String())
	}
	return err
}

// RemoveResult lists what Remove did, as Docker's DELETE /images reports.
type RemoveResult struct {
	Untagged []string
	Deleted  []string
}

// Remove untags or deletes an image. A name removes that tag and the
// image with it when no other tag is left; an ID removes the image with
// all its tags (refused for several repositories unless force). Images
// used by containers are refused unless force (then only untagged).
func (s *Service) Remove(ctx context.Context, term string, force bool) (RemoveResult, error) {
	var res RemoveResult
	err := s.Meta.Update(func(tx *metadata.Tx) error {
		id, err := resolve(tx, term)
		if err != nil {
			return err
		}
		img, err := imagesTable.Get(tx, id.String())
		if err != nil {
			return err
		}
		var tags []string
		namesTable.Each(tx, func(name string, nid digest.Digest) error {
			if nid == id {
				tags = append(tags, name)
			}
			return nil
		})
		byName := false
		var ref reference.Reference
		if r, err := reference.Parse(term); err == nil && !isIDTerm(term, id) {
			ref, byName = r, true
		}
		inUse := s.InUse != nil && s.InUse(id.String())
		if byName && ref.Digest == "" {
			// Untag this name; delete only if it was the last one.
			if err := namesTable.Delete(tx, ref.String()); err != nil {
				return err
			}
			res.Untagged = append(res.Untagged, ref.Familiar())
			if len(tags) > 1 {
				return nil
			}
			if inUse && !force {
				return errdefs.Conflict("conflict: unable to remove repository reference %q (must force) - container is using its referenced image %s", term, short(id))
			}
			if inUse {
				return nil // stays as a dangling image for its container
			}
		} else {
			if len(tags) > 1 && !force && !byName {
				return errdefs.Conflict("conflict: unable to delete %s (must be forced) - image is referenced in multiple repositories", short(id))
			}
			if inUse && !force {
				return errdefs.Conflict("conflict: unable to delete %s (cannot be forced) - image is being used by a container", short(id))
			}
			for _, t := range tags {
				namesTable.Delete(tx, t)
				r, _ := reference.Parse(t)
				res.Untagged = append(res.Untagged, r.Familiar())
			}
			if inUse {
				return nil
			}
		}
		for _, rd := range img.RepoDigests {
			if r, err := reference.Parse(rd); err == nil {
				res.Untagged = append(res.Untagged, r.Familiar())
			}
		}
		res.Deleted = append(res.Deleted, id.String())
		return imagesTable.Delete(tx, id.String())
	})
	if err != nil {
		return res, fmt.Errorf("remove image %s: %w", term, err)
	}
	for _, u := range res.Untagged {
		s.publish("untag", "", u)
	}
	for _, d := range res.Deleted {
		s.publish("delete", d, term)
	}
	return res, nil
}

func isIDTerm(term string, id digest.Digest) bool {
	t := strings.TrimPrefix(term, "sha256:")
	return isHex(t) && strings.HasPrefix(id.Encoded(), t)
}

// Roots marks what images keep alive: their manifests, configs and
// layer blobs, their snapshot chains, and everything under a live lease.
func (s *Service) Roots(ctx context.Context, r gc.Roots) error {
	leases, err := s.Meta.ActiveLeases(time.Now())
	if err != nil {
		return err
	}
	for _, l := range leases {
		for _, d := range l.Content {
			r.Content[digest.Digest(d)] = true
		}
		for _, k := range l.Snapshots {
			r.Snapshots[k] = true
		}
	}
	return s.Meta.View(func(tx *metadata.Tx) error {
		return imagesTable.Each(tx, func(_ string, img Image) error {
			r.Content[img.Target.Digest] = true
			r.Content[img.Manifest.Digest] = true
			r.Content[img.ID] = true
			for _, l := range img.Layers {
				r.Content[l.Blob.Digest] = true
			}
			if top := img.TopChainID(); top != "" {
				r.Snapshots[top.String()] = true
			}
			return nil
		})
	})
}
