package registry

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Artifact is what can be pushed or saved: a v1.Image or a v1.ImageIndex.
type Artifact interface {
	MediaType() (types.MediaType, error)
	RawManifest() ([]byte, error)
	Digest() (v1.Hash, error)
	Size() (int64, error)
}

// Transport is the HTTP transport used to reach registries: no proxy
// from the environment, no transparent decompression.
func Transport() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.DisableCompression = true
	return t
}

// RemoteOptions are go-containerregistry remote options for a plain-HTTP
// registry: ctx, auth (anonymous if nil) and Transport.
func RemoteOptions(ctx context.Context, auth authn.Authenticator) []remote.Option {
	if auth == nil {
		auth = authn.Anonymous
	}
	return []remote.Option{remote.WithContext(ctx), remote.WithAuth(auth), remote.WithTransport(Transport())}
}

// ParseRef parses a reference to a plain-HTTP registry ("host:port/repo:tag").
func ParseRef(ref string) (name.Reference, error) {
	return name.ParseReference(ref, name.Insecure)
}

// PushArtifact uploads an image or index (with everything it refers to)
// to ref over plain HTTP and returns its manifest digest.
func PushArtifact(ctx context.Context, ref string, a Artifact, auth authn.Authenticator, extra ...remote.Option) (v1.Hash, error) {
	r, err := ParseRef(ref)
	if err != nil {
		return v1.Hash{}, err
	}
	opts := append(RemoteOptions(ctx, auth), extra...)
	switch x := a.(type) {
	case v1.Image:
		err = remote.Write(r, x, opts...)
	case v1.ImageIndex:
		err = remote.WriteIndex(r, x, opts...)
	default:
		return v1.Hash{}, fmt.Errorf("push %s: %T is neither an image nor an index", ref, a)
	}
	if err != nil {
		return v1.Hash{}, fmt.Errorf("push %s: %w", ref, err)
	}
	return a.Digest()
}

// WriteDockerArchive writes img in `docker save` form (manifest.json,
// config and layer blobs) to path, tagged with refs (none: untagged).
func WriteDockerArchive(path string, img v1.Image, refs ...string) error {
	m := map[name.Reference]v1.Image{}
	for _, ref := range refs {
		t, err := name.NewTag(ref)
		if err != nil {
			return err
		}
		m[t] = img
	}
	if len(refs) == 0 {
		d, err := img.Digest()
		if err != nil {
			return err
		}
		ref, err := name.NewDigest("untagged.invalid/untagged@" + d.String())
		if err != nil {
			return err
		}
		m[ref] = img
	}
	return tarball.MultiRefWriteToFile(path, m)
}

// OCI annotations naming an image in a layout's index.json.
const (
	AnnotationRefName        = "org.opencontainers.image.ref.name"
	AnnotationContainerdName = "io.containerd.image.name"
)

// WriteOCILayout writes a (an image or an index) as an OCI image layout:
// a directory at path, or a tar of one when path ends in ".tar" (what
// `docker load` and `ctr import` read). index.json gets one entry per
// ref, with io.containerd.image.name set to the ref as given and
// org.opencontainers.image.ref.name to its tag (latest if none); with no
// refs, one entry without annotations.
func WriteOCILayout(path string, a Artifact, refs ...string) error {
	dir := path
	asTar := strings.HasSuffix(path, ".tar")
	if asTar {
		tmp, err := os.MkdirTemp(filepath.Dir(path), ".oci-layout-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	switch x := a.(type) {
	case v1.Image:
		err = p.WriteImage(x)
	case v1.ImageIndex:
		err = p.WriteIndex(x)
	default:
		err = fmt.Errorf("%T is neither an image nor an index", a)
	}
	if err != nil {
		return err
	}
	desc, err := partial.Descriptor(a)
	if err != nil {
		return err
	}
	if len(refs) == 0 {
		err = p.AppendDescriptor(*desc)
	}
	for _, ref := range refs {
		d := *desc
		d.Annotations = map[string]string{AnnotationContainerdName: ref, AnnotationRefName: refTag(ref)}
		if err = p.AppendDescriptor(d); err != nil {
			break
		}
	}
	if err != nil || !asTar {
		return err
	}
	return tarDir(dir, path)
}

func refTag(ref string) string {
	if _, dgst, ok := strings.Cut(ref, "@"); ok {
		return dgst
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[i+1:]
	}
	return "latest"
}

// tarDir writes the tree under dir to a tar file, in name order with
// fixed times.
func tarDir(dir, out string) (err error) {
	var names []string
	if err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			names = append(names, p)
		}
		return nil
	}); err != nil {
		return err
	}
	sort.Strings(names)
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	tw := tar.NewWriter(f)
	for _, p := range names {
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h := &tar.Header{Name: filepath.ToSlash(rel), ModTime: Epoch, Mode: 0o644}
		if fi.IsDir() {
			h.Typeflag, h.Name, h.Mode = tar.TypeDir, h.Name+"/", 0o755
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			continue
		}
		h.Typeflag, h.Size = tar.TypeReg, fi.Size()
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		_, err = io.Copy(tw, src)
		src.Close()
		if err != nil {
			return err
		}
	}
	return tw.Close()
}
