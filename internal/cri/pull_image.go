package cri

import (
	"context"
	"encoding/base64"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/images"
	"github.com/berth-dev/berth/internal/reference"
	"github.com/berth-dev/berth/internal/registry"
)

// PullImage pulls an image (through the configured mirrors) with the
// kubelet's credentials, and returns its ID.
func (s *Server) PullImage(ctx context.Context, req *runtimeapi.PullImageRequest) (*runtimeapi.PullImageResponse, error) {
	name := req.GetImage().GetImage()
	if name == "" {
		return nil, errdefs.InvalidArgument("image reference is empty")
	}
	ref, err := reference.ParseAnyTag(name)
	if err != nil {
		return nil, errdefs.InvalidArgument("invalid image reference %q: %v", name, err)
	}
	creds, err := credentials(req.GetAuth())
	if err != nil {
		return nil, err
	}
	img, err := s.Images.Pull(ctx, ref, images.PullOptions{Creds: creds})
	if err != nil {
		return nil, err
	}
	// The kubelet asks for the image's status next.
	s.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: req.GetImage()})
	return &runtimeapi.PullImageResponse{ImageRef: img.ID.String()}, nil
}

// credentials turns the CRI's AuthConfig into registry credentials; its
// "auth" field is base64 of user:password, as in Docker's config.json.
func credentials(a *runtimeapi.AuthConfig) (*registry.Credentials, error) {
	if a == nil {
		return nil, nil
	}
	c := &registry.Credentials{Username: a.Username, Password: a.Password, IdentityToken: a.IdentityToken, RegistryToken: a.RegistryToken}
	if a.Auth != "" {
		b, err := base64.StdEncoding.DecodeString(a.Auth)
		if err != nil {
			return nil, errdefs.InvalidArgument("auth: not base64: %v", err)
		}
		user, pass, ok := strings.Cut(string(b), ":")
		if !ok {
			return nil, errdefs.InvalidArgument("auth: want base64 of user:password")
		}
		c.Username, c.Password = user, pass
	}
	if *c == (registry.Credentials{}) {
		return nil, nil
	}
	return c, nil
}
