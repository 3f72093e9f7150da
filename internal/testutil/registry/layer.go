package registry

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"
)

// Compression is how a layer blob is compressed.
type Compression int

const (
	// Gzip is the default: application/vnd.oci.image.layer.v1.tar+gzip
	// (or the Docker schema 2 rootfs.diff.tar.gzip).
	Gzip Compression = iota
	// Zstd gives application/vnd.oci.image.layer.v1.tar+zstd, also in
	// Docker schema 2 manifests (there is no Docker zstd type).
	Zstd
	// Uncompressed gives a plain tar: application/vnd.oci.image.layer.v1.tar
	// (or the Docker rootfs.diff.tar).
	Uncompressed
)

func (c Compression) String() string {
	switch c {
	case Gzip:
		return "gzip"
	case Zstd:
		return "zstd"
	case Uncompressed:
		return "none"
	}
	return fmt.Sprintf("Compression(%d)", int(c))
}

// ParseCompression accepts "gzip", "zstd" and "none" (or "uncompressed").
func ParseCompression(s string) (Compression, error) {
	switch strings.ToLower(s) {
	case "gzip", "gz", "":
		return Gzip, nil
	case "zstd", "zst":
		return Zstd, nil
	case "none", "uncompressed", "tar":
		return Uncompressed, nil
	}
	return 0, fmt.Errorf("unknown compression %q (want gzip, zstd or none)", s)
}

// LayerMediaType is the media type of a layer with compression c, in a
// Docker schema 2 manifest when docker is true, an OCI manifest otherwise.
func LayerMediaType(c Compression, docker bool) types.MediaType {
	switch c {
	case Zstd:
		return types.OCILayerZStd
	case Uncompressed:
		if docker {
			return types.DockerUncompressedLayer
		}
		return types.OCIUncompressedLayer
	default:
		if docker {
			return types.DockerLayer
		}
		return types.OCILayer
	}
}

// Epoch is the modification time of every entry and the creation time of
// every image built here unless told otherwise, so digests are stable.
var Epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// File is one entry of a layer tar.
//
// Typeflag defaults to tar.TypeSymlink when Linkname is set, tar.TypeDir
// when Name ends in "/", tar.TypeReg otherwise. Mode holds the permission
// bits in tar (Unix) form, including 0o4000 setuid, 0o2000 setgid and
// 0o1000 sticky; zero means 0o755 for directories, 0o777 for symlinks and
// 0o644 for the rest. Xattrs are written as SCHILY.xattr PAX records.
// ModTime zero means Epoch.
type File struct {
	Name     string
	Mode     int64
	Body     string
	Typeflag byte
	Linkname string
	Uid, Gid int
	Xattrs   map[string]string

	Devmajor, Devminor int64
	ModTime            time.Time
}

// Whiteout is the OCI whiteout entry that deletes name in a lower layer.
func Whiteout(name string) File {
	name = strings.TrimSuffix(name, "/")
	return File{Name: path.Join(path.Dir(name), ".wh."+path.Base(name)), Mode: 0o644}
}

// OpaqueWhiteout is the OCI entry that hides everything below dir that
// lower layers hold.
func OpaqueWhiteout(dir string) File {
	return File{Name: path.Join(strings.TrimSuffix(dir, "/"), ".wh..wh..opq"), Mode: 0o644}
}

// Dir, Reg and Symlink are shorthands for the common entries.
func Dir(name string, mode int64) File {
	return File{Name: strings.TrimSuffix(name, "/") + "/", Mode: mode, Typeflag: tar.TypeDir}
}

// Reg is a regular file.
func Reg(name string, mode int64, body string) File {
	return File{Name: name, Mode: mode, Body: body, Typeflag: tar.TypeReg}
}

// Symlink is a symbolic link name -> target.
func Symlink(name, target string) File {
	return File{Name: name, Linkname: target, Typeflag: tar.TypeSymlink}
}

func (f File) header() (*tar.Header, error) {
	h := &tar.Header{
		Name:     f.Name,
		Typeflag: f.Typeflag,
		Linkname: f.Linkname,
		Uid:      f.Uid,
		Gid:      f.Gid,
		Mode:     f.Mode,
		Devmajor: f.Devmajor,
		Devminor: f.Devminor,
		ModTime:  f.ModTime,
	}
	if h.Typeflag == 0 {
		switch {
		case f.Linkname != "":
			h.Typeflag = tar.TypeSymlink
		case strings.HasSuffix(f.Name, "/"):
			h.Typeflag = tar.TypeDir
		default:
			h.Typeflag = tar.TypeReg
		}
	}
	if h.Mode == 0 {
		switch h.Typeflag {
		case tar.TypeDir:
			h.Mode = 0o755
		case tar.TypeSymlink:
			h.Mode = 0o777
		default:
			h.Mode = 0o644
		}
	}
	if h.ModTime.IsZero() {
		h.ModTime = Epoch
	}
	switch h.Typeflag {
	case tar.TypeReg:
		h.Size = int64(len(f.Body))
	case tar.TypeDir:
		if !strings.HasSuffix(h.Name, "/") {
			h.Name += "/"
		}
		if f.Body != "" {
			return nil, fmt.Errorf("layer entry %s: a directory has no body", f.Name)
		}
	default:
		if f.Body != "" {
			return nil, fmt.Errorf("layer entry %s: only regular files have a body", f.Name)
		}
	}
	if len(f.Xattrs) > 0 {
		h.PAXRecords = make(map[string]string, len(f.Xattrs))
		for k, v := range f.Xattrs {
			h.PAXRecords["SCHILY.xattr."+k] = v
		}
		h.Format = tar.FormatPAX
	}
	return h, nil
}

func writeFiles(tw *tar.Writer, files []File) error {
	for _, f := range files {
		h, err := f.header()
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("layer entry %s: %w", f.Name, err)
		}
		if h.Typeflag == tar.TypeReg && f.Body != "" {
			if _, err := io.WriteString(tw, f.Body); err != nil {
				return err
			}
		}
	}
	return nil
}

// NewLayer builds a layer holding files, in that order. Of opts only
// WithCompression and WithDockerMediaTypes matter.
func NewLayer(files []File, opts ...ImageOption) (v1.Layer, error) {
	o := newImageOptions(opts)
	return buildLayer(o.compression, LayerMediaType(o.compression, o.docker), func(tw *tar.Writer) error {
		return writeFiles(tw, files)
	})
}

// buildLayer runs write against a tar stream and keeps the compressed
// blob in memory; the uncompressed tar is only hashed, so a layer costs
// its compressed size.
func buildLayer(c Compression, mt types.MediaType, write func(tw *tar.Writer) error) (v1.Layer, error) {
	l := &memLayer{mediaType: mt, compression: c}
	diff := sha256.New()
	var (
		comp io.WriteCloser
		sink io.Writer
	)
	switch c {
	case Gzip:
		zw, err := gzip.NewWriterLevel(&l.blob, gzip.DefaultCompression)
		if err != nil {
			return nil, err
		}
		comp = zw
		sink = io.MultiWriter(diff, zw)
	case Zstd:
		zw, err := zstd.NewWriter(&l.blob, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedDefault))
		if err != nil {
			return nil, err
		}
		comp = zw
		sink = io.MultiWriter(diff, zw)
	case Uncompressed:
		sink = io.MultiWriter(diff, &l.blob)
	default:
		return nil, fmt.Errorf("unknown compression %v", c)
	}
	tw := tar.NewWriter(sink)
	if err := write(tw); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if comp != nil {
		if err := comp.Close(); err != nil {
			return nil, err
		}
	}
	l.diffID = sumHash(diff)
	if c == Uncompressed {
		l.digest = l.diffID
	} else {
		d := sha256.Sum256(l.blob.Bytes())
		l.digest = v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(d[:])}
	}
	return l, nil
}

func sumHash(h hash.Hash) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
}

// memLayer is a layer whose compressed blob lives in memory.
type memLayer struct {
	blob        bytes.Buffer
	digest      v1.Hash
	diffID      v1.Hash
	mediaType   types.MediaType
	compression Compression
}

func (l *memLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l *memLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *memLayer) Size() (int64, error)                { return int64(l.blob.Len()), nil }
func (l *memLayer) MediaType() (types.MediaType, error) { return l.mediaType, nil }

func (l *memLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.blob.Bytes())), nil
}

func (l *memLayer) Uncompressed() (io.ReadCloser, error) {
	r := bytes.NewReader(l.blob.Bytes())
	switch l.compression {
	case Gzip:
		return gzip.NewReader(r)
	case Zstd:
		zr, err := zstd.NewReader(r)
		if err != nil {
			return nil, err
		}
		return zr.IOReadCloser(), nil
	}
	return io.NopCloser(r), nil
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
