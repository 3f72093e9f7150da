// Package images is Berth's image service: it pulls images into the
// content store and snapshots, records them in metadata, and answers
// lookups, tags, removals, pushes, imports and exports.
package images

import (
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/metadata"
)

// Image is the record of one image, identified as Docker does by the
// digest of its config.
type Image struct {
	ID          digest.Digest      `json:"id"`
	Target      ocispec.Descriptor `json:"target"`   // what was pulled: index or manifest
	Manifest    ocispec.Descriptor `json:"manifest"` // this platform's manifest
	Platform    ocispec.Platform   `json:"platform"`
	Layers      []Layer            `json:"layers"`
	RepoDigests []string           `json:"repoDigests,omitempty"` // repo@digest this image was pulled as
	Size        int64              `json:"size"`                  // unpacked bytes
	Created     time.Time          `json:"created"`               // from the config
	Added       time.Time          `json:"added"`                 // when it arrived here
	// Unsynced is the boot ID under which the image was recorded before
	// its data was flushed to disk ("" once flushed; see durable.go).
	Unsynced string `json:"unsynced,omitempty"`
}

// Layer is one layer: its blob and what it unpacks to.
type Layer struct {
	Blob    ocispec.Descriptor `json:"blob"`
	DiffID  digest.Digest      `json:"diffID"`
	ChainID digest.Digest      `json:"chainID"`
	Size    int64              `json:"size"` // unpacked bytes
}

// TopChainID names the committed snapshot with all layers (the parent of
// a container's writable snapshot). Empty for an image without layers.
func (img Image) TopChainID() digest.Digest {
	if len(img.Layers) == 0 {
		return ""
	}
	return img.Layers[len(img.Layers)-1].ChainID
}

var (
	imagesTable = metadata.NewTable[Image]("images", "image")
	namesTable  = metadata.NewTable[digest.Digest]("image-names", "image name")
)
