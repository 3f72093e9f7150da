package registry

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/internal/errdefs"
)

// ChunkSize is the size of each PATCH of a chunked blob upload.
var ChunkSize int64 = 16 << 20

// BlobExists reports whether the repository has blob d.
func (r *Repo) BlobExists(ctx context.Context, d digest.Digest) (bool, error) {
	resp, err := r.do(ctx, r.endpoint(), http.MethodHead, "/blobs/"+d.String(), nil, nil)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, httpError(resp, "check blob "+d.String())
}

// Mount asks the registry to link blob d from another repository of the
// same registry (cross-repository blob mount). It reports whether that
// worked; if not, the caller uploads.
func (r *Repo) Mount(ctx context.Context, d digest.Digest, fromRepo string) (bool, error) {
	q := url.Values{"mount": {d.String()}, "from": {fromRepo}}
	resp, err := r.do(ctx, r.endpoint(), http.MethodPost, "/blobs/uploads/?"+q.Encode(), nil, nil,
		r.scope(), scope(fromRepo, "pull"))
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusCreated:
		return true, nil
	case http.StatusAccepted:
		// The registry started a normal upload instead; cancel it.
		if loc, err := r.location(resp); err == nil {
			if del, err := r.do(ctx, r.endpoint(), http.MethodDelete, loc, nil, nil); err == nil {
				del.Body.Close()
			}
		}
		return false, nil
	}
	return false, nil
}

// Upload sends blob d of size bytes read from body in ChunkSize PATCHes.
// progress, if set, is called with the bytes sent so far.
func (r *Repo) Upload(ctx context.Context, d digest.Digest, size int64, body io.Reader, progress func(int64)) error {
	e := r.endpoint()
	resp, err := r.do(ctx, e, http.MethodPost, "/blobs/uploads/", nil, nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return httpError(resp, "start upload of "+d.String())
	}
	loc, err := r.location(resp)
	if err != nil {
		return err
	}
	buf := make([]byte, min(ChunkSize, max(size, 1)))
	var sent int64
	for sent < size {
		n, err := io.ReadFull(body, buf[:min(int64(len(buf)), size-sent)])
		if err != nil {
			return fmt.Errorf("upload %s: reading local blob: %w", d, err)
		}
		hdr := http.Header{
			"Content-Type":   {"application/octet-stream"},
			"Content-Range":  {fmt.Sprintf("%d-%d", sent, sent+int64(n)-1)},
			"Content-Length": {strconv.Itoa(n)},
		}
		resp, err := r.doBody(ctx, e, http.MethodPatch, loc, hdr, buf[:n])
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusNoContent {
			return httpError(resp, "upload chunk of "+d.String())
		}
		if loc, err = r.location(resp); err != nil {
			return err
		}
		sent += int64(n)
		if progress != nil {
			progress(sent)
		}
	}
	u, err := url.Parse(loc)
	if err != nil {
		return errdefs.Internal("upload %s: bad location %q", d, loc)
	}
	q := u.Query()
	q.Set("digest", d.String())
	u.RawQuery = q.Encode()
	resp, err = r.doBody(ctx, e, http.MethodPut, u.String(), http.Header{"Content-Type": {"application/octet-stream"}}, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusOK {
		return httpError(resp, "finish upload of "+d.String())
	}
	return nil
}

// PutManifest uploads a manifest under a tag or its digest.
func (r *Repo) PutManifest(ctx context.Context, tagOrDigest, mediaType string, b []byte) error {
	resp, err := r.doBody(ctx, r.endpoint(), http.MethodPut, "/manifests/"+tagOrDigest, http.Header{"Content-Type": {mediaType}}, b)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return httpError(resp, "push manifest "+r.ref.Repository()+":"+tagOrDigest)
	}
	return nil
}

// doBody sends a request with an in-memory body, so the auth transport can
// replay it after a token refresh.
func (r *Repo) doBody(ctx context.Context, e endpoint, method, path string, hdr http.Header, b []byte) (*http.Response, error) {
	var body io.Reader
	if b != nil {
		body = bytes.NewReader(b)
	}
	return r.do(ctx, e, method, path, hdr, body)
}

// location resolves an upload Location header against the endpoint.
func (r *Repo) location(resp *http.Response) (string, error) {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return "", errdefs.Internal("registry sent no upload location")
	}
	u, err := resp.Request.URL.Parse(loc)
	if err != nil {
		return "", errdefs.Internal("registry sent a bad upload location %q", loc)
	}
	return u.String(), nil
}
