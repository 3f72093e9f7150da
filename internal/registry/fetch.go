package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/reference"
)

// Media types of manifests this client negotiates.
const (
	MediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaTypeSchema1        = "application/vnd.docker.distribution.manifest.v1+prettyjws"
)

var acceptManifests = strings.Join([]string{
	ocispec.MediaTypeImageIndex, ocispec.MediaTypeImageManifest,
	MediaTypeDockerList, MediaTypeDockerManifest,
}, ", ")

// MaxManifestSize bounds what we read for a manifest or index.
const MaxManifestSize = 4 << 20

// Repo is a handle on one repository, resolved through mirrors.
type Repo struct {
	c     *Client
	ref   reference.Reference
	creds *Credentials
	eps   []endpoint
	push  bool

	mu     sync.Mutex
	active int // index of the endpoint that answered
}

// Repository returns a handle for pulling from ref's repository.
func (c *Client) Repository(ref reference.Reference, creds *Credentials) *Repo {
	return &Repo{c: c, ref: ref, creds: creds, eps: c.endpoints(ref.Domain, false)}
}

// PushRepository returns a handle for pushing (no mirrors).
func (c *Client) PushRepository(ref reference.Reference, creds *Credentials) *Repo {
	return &Repo{c: c, ref: ref, creds: creds, eps: c.endpoints(ref.Domain, true), push: true}
}

func (r *Repo) do(ctx context.Context, e endpoint, method, path string, hdr http.Header, body io.Reader, scopes ...string) (*http.Response, error) {
	if len(scopes) == 0 {
		scopes = []string{r.scope()}
	}
	rt, err := r.c.transport(ctx, e, r.creds, scopes...)
	if err != nil {
		return nil, err
	}
	u := path
	if !strings.HasPrefix(path, "https://") && !strings.HasPrefix(path, "http://") {
		u = e.url("/v2/" + r.ref.Path + path)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return nil, classify(fmt.Errorf("%s %s: %w", method, r.ref.Repository(), err))
	}
	return resp, nil
}

// Resolve fetches the manifest (or index) ref names, trying each mirror
// and then the registry itself. The bytes are verified against the digest
// in the reference, or against the registry's Docker-Content-Digest.
func (r *Repo) Resolve(ctx context.Context) (ocispec.Descriptor, []byte, error) {
	want := r.ref.Tag
	if r.ref.Digest != "" {
		want = r.ref.Digest.String()
	}
	var firstErr error
	for i, e := range r.eps {
		desc, b, err := r.manifest(ctx, e, want, r.ref.Digest)
		if err == nil {
			r.mu.Lock()
			r.active = i
			r.mu.Unlock()
			return desc, b, nil
		}
		if firstErr == nil || (len(r.eps) > 1 && i == len(r.eps)-1 && !errdefs.IsUnavailable(err)) {
			firstErr = err
		}
	}
	return ocispec.Descriptor{}, nil, firstErr
}

// Manifest fetches a child manifest by digest from the endpoint that
// resolved the top-level one.
func (r *Repo) Manifest(ctx context.Context, d digest.Digest) (ocispec.Descriptor, []byte, error) {
	return r.manifest(ctx, r.endpoint(), d.String(), d)
}

func (r *Repo) scope() string {
	if r.push {
		return scope(r.ref.Path, "pull", "push")
	}
	return scope(r.ref.Path, "pull")
}

func (r *Repo) endpoint() endpoint {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.eps[r.active]
}

func (r *Repo) manifest(ctx context.Context, e endpoint, tagOrDigest string, want digest.Digest) (ocispec.Descriptor, []byte, error) {
	name := r.ref.Repository() + ":" + tagOrDigest
	if want != "" {
		name = r.ref.Repository() + "@" + tagOrDigest
	}
	resp, err := r.do(ctx, e, http.MethodGet, "/manifests/"+tagOrDigest, http.Header{"Accept": {acceptManifests}}, nil)
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ocispec.Descriptor{}, nil, httpError(resp, "manifest for "+name)
	}
	if resp.ContentLength > MaxManifestSize {
		return ocispec.Descriptor{}, nil, errdefs.InvalidArgument("manifest for %s: %d bytes exceeds the %d-byte limit", name, resp.ContentLength, MaxManifestSize)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxManifestSize+1))
	if err != nil {
		return ocispec.Descriptor{}, nil, classify(fmt.Errorf("manifest for %s: %w", name, err))
	}
	if len(b) > MaxManifestSize {
		return ocispec.Descriptor{}, nil, errdefs.InvalidArgument("manifest for %s exceeds the %d-byte limit", name, MaxManifestSize)
	}
	got := digest.FromBytes(b)
	if want != "" && got != want {
		if alg := want.Algorithm(); alg != digest.SHA256 && alg.Available() {
			got = alg.FromBytes(b)
		}
		if got != want {
			return ocispec.Descriptor{}, nil, errdefs.InvalidArgument("manifest for %s: content digest %s does not match", name, got)
		}
	}
	if h := resp.Header.Get("Docker-Content-Digest"); want == "" && h != "" {
		if hd, err := digest.Parse(h); err == nil && hd.Algorithm() == digest.SHA256 && hd != got {
			return ocispec.Descriptor{}, nil, errdefs.InvalidArgument("manifest for %s: registry says %s, content is %s", name, hd, got)
		}
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == mediaTypeSchema1 || mt == "application/vnd.docker.distribution.manifest.v1+json" {
		return ocispec.Descriptor{}, nil, errdefs.NotImplemented("manifest for %s: Docker schema 1 images are not supported; push the image again with a current client", name)
	}
	if mt == "" || mt == "application/json" || mt == "text/plain" {
		mt = sniffMediaType(b)
	}
	return ocispec.Descriptor{MediaType: mt, Digest: got, Size: int64(len(b))}, b, nil
}

// Blob opens a blob for reading from offset. It returns the offset the
// stream really starts at: 0 when the server ignored the range.
func (r *Repo) Blob(ctx context.Context, d digest.Digest, offset int64) (io.ReadCloser, int64, error) {
	hdr := http.Header{}
	if offset > 0 {
		hdr.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
	}
	resp, err := r.do(ctx, r.endpoint(), http.MethodGet, "/blobs/"+d.String(), hdr, nil)
	if err != nil {
		return nil, 0, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return resp.Body, 0, nil
	case http.StatusPartialContent:
		start, ok := contentRangeStart(resp.Header.Get("Content-Range"))
		if !ok || start != offset {
			resp.Body.Close()
			return r.Blob(ctx, d, 0)
		}
		return resp.Body, offset, nil
	case http.StatusRequestedRangeNotSatisfiable:
		resp.Body.Close()
		return r.Blob(ctx, d, 0)
	}
	defer resp.Body.Close()
	return nil, 0, httpError(resp, "blob "+d.String()+" of "+r.ref.Repository())
}

func contentRangeStart(h string) (int64, bool) {
	h = strings.TrimPrefix(h, "bytes ")
	a, _, ok := strings.Cut(h, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(a, 10, 64)
	return n, err == nil
}

// sniffMediaType reads mediaType (or the shape) from a manifest body when
// the registry sent a generic Content-Type.
func sniffMediaType(b []byte) string {
	var m struct {
		MediaType string              `json:"mediaType"`
		Manifests []json.RawMessage   `json:"manifests"`
		Config    *ocispec.Descriptor `json:"config"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return ""
	}
	switch {
	case m.MediaType != "":
		return m.MediaType
	case m.Manifests != nil:
		return ocispec.MediaTypeImageIndex
	case m.Config != nil:
		return ocispec.MediaTypeImageManifest
	}
	return ""
}
