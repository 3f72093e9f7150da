// Package reference parses and normalises image references the way Docker
// does: "busybox" means docker.io/library/busybox:latest, a digest pins
// content, and every error names the text that was wrong.
package reference

import (
	"strings"

	dref "github.com/distribution/reference"
	"github.com/opencontainers/go-digest"

	_ "crypto/sha256" // go-digest needs the algorithm linked in
	_ "crypto/sha512"

	"github.com/berth-dev/berth/internal/errdefs"
)

// DefaultDomain is where unqualified names resolve.
const DefaultDomain = "docker.io"

// Reference is a normalised image reference. Tag and Digest may both be
// set ("repo:tag@sha256:..."); the digest then decides what is fetched.
type Reference struct {
	Domain string        // registry host[:port], e.g. docker.io, 127.0.0.1:5000
	Path   string        // repository path, e.g. library/busybox
	Tag    string        // "" when only a digest is given
	Digest digest.Digest // "" when not pinned
}

// Parse normalises s. A reference without tag or digest gets "latest".
func Parse(s string) (Reference, error) {
	r, err := ParseAnyTag(s)
	if err != nil {
		return Reference{}, err
	}
	if r.Tag == "" && r.Digest == "" {
		r.Tag = "latest"
	}
	return r, nil
}

// ParseAnyTag normalises s but leaves Tag empty when none was written
// (docker pull -a, image lookups by repository).
func ParseAnyTag(s string) (Reference, error) {
	if s == "" {
		return Reference{}, errdefs.InvalidArgument("invalid reference format: empty image name")
	}
	if len(s) > 4096 {
		return Reference{}, errdefs.InvalidArgument("invalid reference format: %d bytes is too long", len(s))
	}
	n, err := dref.ParseNormalizedNamed(s)
	if err != nil {
		return Reference{}, errdefs.InvalidArgument("invalid reference format %q: %v", s, err)
	}
	r := Reference{Domain: dref.Domain(n), Path: dref.Path(n)}
	if t, ok := n.(dref.Tagged); ok {
		r.Tag = t.Tag()
	}
	if d, ok := n.(dref.Digested); ok {
		r.Digest = d.Digest()
	}
	return r, nil
}

// Repository is the full repository name: docker.io/library/busybox.
func (r Reference) Repository() string { return r.Domain + "/" + r.Path }

// String is the canonical form: domain/path[:tag][@digest].
func (r Reference) String() string {
	s := r.Repository()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest.String()
	}
	return s
}

// FamiliarRepository drops the docker.io/ and library/ prefixes Docker
// users never type.
func (r Reference) FamiliarRepository() string {
	if r.Domain != DefaultDomain {
		return r.Repository()
	}
	return strings.TrimPrefix(r.Path, "library/")
}

// Familiar is the short form Docker prints: busybox:latest.
func (r Reference) Familiar() string {
	s := r.FamiliarRepository()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest.String()
	}
	return s
}

// WithTag returns r retagged (the digest is dropped: a tag names mutable content).
func (r Reference) WithTag(tag string) Reference {
	r.Tag, r.Digest = tag, ""
	return r
}

// WithDigest returns r pinned to d, without its tag.
func (r Reference) WithDigest(d digest.Digest) Reference {
	r.Tag, r.Digest = "", d
	return r
}

// ParseTag validates a bare tag ("v1.2").
func ParseTag(tag string) error {
	if !tagRE.MatchString(tag) {
		return errdefs.InvalidArgument("invalid tag %q: must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", tag)
	}
	return nil
}

// IsDigestID reports whether s looks like an image ID (sha256:<hex> or a
// 64-hex string) rather than a name; "abc123" prefixes are handled by the
// image store.
func IsDigestID(s string) bool {
	s = strings.TrimPrefix(s, "sha256:")
	if len(s) != 64 {
		return false
	}
	return hexRE.MatchString(s)
}
