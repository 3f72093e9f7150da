package cri

import (
	"context"
	"strconv"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/images"
)

// toCRIImage is an image as the CRI shows it; the user comes from the
// image config (a number as Uid, a name as Username).
func (s *Server) toCRIImage(ctx context.Context, img images.Summary) *runtimeapi.Image {
	out := &runtimeapi.Image{
		Id:          img.ID.String(),
		RepoTags:    img.RepoTags,
		RepoDigests: img.RepoDigests,
		Size:        uint64(img.Size),
		Spec:        &runtimeapi.ImageSpec{Image: img.ID.String()},
	}
	if out.RepoTags == nil {
		out.RepoTags = []string{}
	}
	if out.RepoDigests == nil {
		out.RepoDigests = []string{}
	}
	user := s.imageUser(ctx, img)
	if uid, err := strconv.ParseInt(user, 10, 64); err == nil {
		out.Uid = &runtimeapi.Int64Value{Value: uid}
	} else {
		out.Username = user
	}
	return out
}

// imageUser is the user of an image's config, remembered by image ID: the
// kubelet asks for image status often, and the config is a blob to read
// and parse (an image's config never changes).
func (s *Server) imageUser(ctx context.Context, img images.Summary) string {
	id := img.ID.String()
	if v, ok := s.userCache.Load(id); ok {
		return v.(string)
	}
	cfg, err := s.Images.Config(ctx, img.Image)
	if err != nil {
		return ""
	}
	user, _, _ := strings.Cut(cfg.Config.User, ":")
	s.userCache.Store(id, user)
	return user
}

// findImage resolves a CRI image reference (a name, an ID or a digest
// reference); a missing image is (nil, nil), as the CRI wants.
func (s *Server) findImage(ctx context.Context, spec *runtimeapi.ImageSpec) (*images.Summary, error) {
	ref := spec.GetImage()
	if ref == "" {
		return nil, errdefs.InvalidArgument("image reference is empty")
	}
	img, err := s.Images.Get(ctx, ref)
	if errdefs.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &img, nil
}
