// Package compress reads the compressed streams layers come in: gzip or
// zstd, told apart by their first bytes. It is apart from package unpack
// so that what extracts plain tar streams (the CLI's docker cp) links no
// decoder.
package compress

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/berth-dev/berth/internal/errdefs"
)

// maxZstdWindow bounds the memory one zstd frame may demand. The zstd tool
// itself refuses windows above 128 MiB unless told otherwise, so layers
// made by ordinary tools stay within it, and a hostile frame header cannot
// make the daemon allocate the decoder's 512 MiB default per layer.
const maxZstdWindow = 128 << 20

var (
	magicGzip  = []byte{0x1f, 0x8b}
	magicZstd  = []byte{0x28, 0xb5, 0x2f, 0xfd}
	magicXz    = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
	magicBzip2 = []byte{'B', 'Z', 'h'}
)

// Decoders are pooled: a zstd decoder owns sizeable history buffers and a
// gzip reader its Huffman tables, and a pull of many layers would otherwise
// allocate them once per layer.
var (
	gzipPool sync.Pool // *gzip.Reader
	zstdPool sync.Pool // *zstd.Decoder
)

// Decompress returns a reader of the uncompressed stream. The compression is
// detected from the stream's first bytes (gzip, zstd, or none); a media type
// is never trusted for this. Close releases the decoder; it does not close r.
func Decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(6)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	switch {
	case bytes.HasPrefix(head, magicGzip):
		z, _ := gzipPool.Get().(*gzip.Reader)
		if z == nil {
			z = new(gzip.Reader)
		}
		if err := z.Reset(br); err != nil {
			gzipPool.Put(z)
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, errdefs.InvalidArgument("gzip header: %v", err)
		}
		return &gzipStream{z: z}, nil
	case bytes.HasPrefix(head, magicZstd) || isZstdSkippable(head):
		d, _ := zstdPool.Get().(*zstd.Decoder)
		if d == nil {
			var err error
			d, err = zstd.NewReader(nil,
				zstd.WithDecoderConcurrency(1),
				zstd.WithDecoderMaxWindow(maxZstdWindow))
			if err != nil {
				return nil, err
			}
		}
		if err := d.Reset(br); err != nil {
			zstdPool.Put(d)
			return nil, errdefs.InvalidArgument("zstd: %v", err)
		}
		return &zstdStream{d: d}, nil
	case bytes.HasPrefix(head, magicXz):
		return nil, errdefs.NotImplemented("xz-compressed layers are not supported")
	case bytes.HasPrefix(head, magicBzip2):
		return nil, errdefs.NotImplemented("bzip2-compressed layers are not supported")
	}
	return io.NopCloser(br), nil
}

// isZstdSkippable recognises a zstd skippable frame (magic 0x184D2A5?), which
// may open a stream that carries metadata ahead of the data frames.
func isZstdSkippable(b []byte) bool {
	return len(b) >= 4 && b[0]&0xf0 == 0x50 && b[1] == 0x2a && b[2] == 0x4d && b[3] == 0x18
}

type gzipStream struct {
	z    *gzip.Reader
	done bool
}

func (s *gzipStream) Read(p []byte) (int, error) {
	if s.done {
		return 0, errors.New("compress: read after close")
	}
	return s.z.Read(p)
}

func (s *gzipStream) Close() error {
	if s.done {
		return nil
	}
	s.done = true
	err := s.z.Close()
	gzipPool.Put(s.z)
	return err
}

type zstdStream struct {
	d    *zstd.Decoder
	done bool
}

func (s *zstdStream) Read(p []byte) (int, error) {
	if s.done {
		return 0, errors.New("compress: read after close")
	}
	return s.d.Read(p)
}

func (s *zstdStream) Close() error {
	if s.done {
		return nil
	}
	s.done = true
	// Reset(nil) drops the reference to the source and keeps the buffers;
	// Close would make the decoder unusable for the pool.
	_ = s.d.Reset(nil)
	zstdPool.Put(s.d)
	return nil
}
