// Package unpack applies OCI and Docker image layers (tar changesets,
// gzip/zstd/plain) into a snapshot directory, turning whiteouts into what the
// snapshotter needs, without letting a hostile layer touch anything outside
// that directory.
package unpack

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
)

// WhiteoutMode says how whiteout entries are represented in the target.
type WhiteoutMode int

const (
	// WhiteoutOverlay: the target is an overlayfs upperdir. ".wh.name"
	// becomes a character device 0:0 called "name"; ".wh..wh..opq" becomes
	// the xattr trusted.overlay.opaque="y" on its directory.
	WhiteoutOverlay WhiteoutMode = iota
	// WhiteoutDelete: the target is a full copy of the lower layers (the
	// native snapshotter). ".wh.name" removes "name" with everything under
	// it; ".wh..wh..opq" empties its directory of whatever this layer did
	// not put there.
	WhiteoutDelete
)

// Options tune Apply.
type Options struct {
	Whiteouts WhiteoutMode
	// Decompress reads a compressed stream (compress.Decompress: gzip or
	// zstd, detected); nil takes the stream as an uncompressed tar.
	Decompress func(io.Reader) (io.ReadCloser, error)
}

// Result describes an applied layer.
type Result struct {
	DiffID string // digest of the uncompressed tar stream, "sha256:<hex>"
	Size   int64  // uncompressed bytes
	Files  int    // entries applied, whiteouts included
}

// Apply reads a layer stream (a tar, or a compressed one that
// opts.Decompress reads) and extracts it into root. It returns the digest of the
// uncompressed tar, the diff_id. When wantDiffID is set and differs, Apply
// fails with class errdefs.ErrInvalidArgument; root then holds the
// extracted entries and the caller removes it, as it does after any error.
//
// The stream is read to its end, past the tar's end-of-archive blocks, so a
// caller that digests the compressed bytes on their way in sees all of them.
//
// Apply must run as root (it creates device nodes and sets ownership and
// trusted.* xattrs). Nothing is written outside root whatever the layer
// holds: names climbing out with ".." are refused, absolute names and
// symlinks are resolved as if root were "/", and no final path component is
// ever followed.
//
// Calls for different roots may run in parallel.
func Apply(ctx context.Context, root string, r io.Reader, wantDiffID string, opts Options) (Result, error) {
	alg := "sha256"
	if wantDiffID != "" {
		var err error
		if alg, err = checkDigest(wantDiffID); err != nil {
			return Result{}, errdefs.InvalidArgument("unpack: expected diff_id %q: %v", wantDiffID, err)
		}
	}
	if opts.Whiteouts != WhiteoutOverlay && opts.Whiteouts != WhiteoutDelete {
		return Result{}, errdefs.InvalidArgument("unpack: unknown whiteout mode %d", opts.Whiteouts)
	}

	rootDir, err := os.OpenFile(root, os.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Result{}, errdefs.NotFound("unpack: root %s does not exist", root)
		}
		return Result{}, fmt.Errorf("unpack: open root: %w", err)
	}
	defer rootDir.Close()

	src := &sourceReader{r: r}
	dec := io.NopCloser(src)
	if opts.Decompress != nil {
		var err error
		if dec, err = opts.Decompress(src); err != nil {
			return Result{}, streamFailure(ctx, src, "", err)
		}
	}
	defer dec.Close()

	h := digestHashes[alg]()
	stream := &hashingReader{r: dec, h: h, ctx: ctx}
	tr := tar.NewReader(stream)

	a := newApplier(ctx, rootDir, opts)
	defer a.close()

	last := ""
	for {
		if err := ctx.Err(); err != nil {
			return Result{}, fmt.Errorf("unpack: %w", err)
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil && !errors.Is(err, tar.ErrInsecurePath) {
			// (ErrInsecurePath only reports what cleanName handles itself.)
			return Result{}, streamFailure(ctx, src, last, err)
		}
		last = hdr.Name
		if err := a.entry(tr, hdr); err != nil {
			if src.err != nil || ctx.Err() != nil {
				return Result{}, streamFailure(ctx, src, last, err)
			}
			return Result{}, err
		}
	}
	// Padding after the end-of-archive blocks is part of the diff_id, and the
	// compressed stream may have bytes the decoder did not need.
	if _, err := io.Copy(io.Discard, stream); err != nil {
		return Result{}, streamFailure(ctx, src, last, err)
	}
	if _, err := io.Copy(io.Discard, src); err != nil {
		return Result{}, streamFailure(ctx, src, last, err)
	}
	if err := a.finishDirs(); err != nil {
		return Result{}, err
	}

	res := Result{DiffID: alg + ":" + hex.EncodeToString(h.Sum(nil)), Size: stream.n, Files: a.files}
	if wantDiffID != "" && res.DiffID != wantDiffID {
		return res, errdefs.InvalidArgument("unpack: layer diff_id is %s, want %s", res.DiffID, wantDiffID)
	}
	return res, nil
}

// streamFailure reports a failure to read the layer. A failure of the
// caller's reader (a network error, a content store error) keeps its own
// identity; anything else is the stream's fault and invalid.
func streamFailure(ctx context.Context, src *sourceReader, last string, err error) error {
	if src.err != nil {
		return fmt.Errorf("unpack: read layer: %w", src.err)
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("unpack: %w", ctxErr)
	}
	var ee *entryError
	if errors.As(err, &ee) {
		return err
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	class := classOf(err)
	return &streamError{after: last, err: err, class: class}
}

// sourceReader remembers a failure of the caller's reader, to tell it from
// a malformed stream.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

// hashingReader digests and counts the uncompressed stream as the tar
// reader consumes it, and stops a long copy when ctx ends.
type hashingReader struct {
	r   io.Reader
	h   hash.Hash
	n   int64
	ctx context.Context
}

func (h *hashingReader) Read(p []byte) (int, error) {
	if err := h.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	h.n += int64(n)
	return n, err
}

// applier holds the state of one Apply.
type applier struct {
	ctx  context.Context
	root *os.File
	mode WhiteoutMode

	// touched names every path this layer wrote and their parents; in
	// WhiteoutDelete mode it is what an opaque whiteout keeps.
	touched map[string]struct{}

	// Directory times are set last: creating children changes them.
	dirs   []dirTimes
	dirIdx map[string]int

	// The parent of the previous entry, kept open because a tar lists a
	// directory's entries together. Any removal may change what a path
	// resolves to, so removals mark it stale.
	cacheRel   string
	cacheDir   *os.File
	cacheValid bool

	buf   []byte
	files int
}

type dirTimes struct {
	rel          string
	atime, mtime time.Time
}

func newApplier(ctx context.Context, root *os.File, opts Options) *applier {
	a := &applier{
		ctx:    ctx,
		root:   root,
		mode:   opts.Whiteouts,
		dirIdx: make(map[string]int),
		buf:    make([]byte, 128<<10),
	}
	if a.mode == WhiteoutDelete {
		a.touched = make(map[string]struct{})
	}
	return a
}

func (a *applier) close() {
	if a.cacheDir != nil {
		a.cacheDir.Close()
		a.cacheDir = nil
	}
}

// parentDir returns a handle on the directory rel, resolved inside the root
// and created if missing. The handle belongs to the applier and stays valid
// until the next call.
func (a *applier) parentDir(rel string) (*os.File, error) {
	if a.cacheValid && a.cacheRel == rel {
		return a.cacheDir, nil
	}
	a.close()
	a.cacheValid = false
	f, err := mkdirInRoot(a.root, rel)
	if err != nil {
		return nil, err
	}
	a.cacheDir, a.cacheRel, a.cacheValid = f, rel, true
	return f, nil
}

// removeAt removes name from dirfd and forgets cached lookups.
func (a *applier) removeAt(dirfd int, name string) error {
	a.cacheValid = false
	return removeAt(dirfd, name)
}

// markTouched records rel and its parents as this layer's.
func (a *applier) markTouched(rel string) {
	if a.touched == nil {
		return
	}
	for rel != "" {
		if _, ok := a.touched[rel]; ok {
			return // its parents were recorded with it
		}
		a.touched[rel] = struct{}{}
		rel, _ = splitName(rel)
	}
}

func (a *applier) isTouched(rel string) bool {
	_, ok := a.touched[rel]
	return ok
}

func (a *applier) deferDirTimes(rel string, hdr *tar.Header) {
	d := dirTimes{rel: rel, atime: accessTime(hdr), mtime: hdr.ModTime}
	if i, ok := a.dirIdx[rel]; ok {
		a.dirs[i] = d
		return
	}
	a.dirIdx[rel] = len(a.dirs)
	a.dirs = append(a.dirs, d)
}

// finishDirs sets the times of the directories the layer listed, now that
// nothing more will be created in them. A directory a later entry removed
// or replaced is skipped.
func (a *applier) finishDirs() error {
	for _, d := range a.dirs {
		dir, base := splitName(d.rel)
		p, err := openInRoot(a.root, dir)
		if err != nil {
			continue
		}
		st, ok, err := lstatAt(int(p.Fd()), base)
		if err == nil && ok && isDir(&st) {
			err = setTimesAt(int(p.Fd()), base, d.atime, d.mtime)
		}
		p.Close()
		if err != nil {
			return entryErr(d.rel, fmt.Errorf("set times: %w", err))
		}
	}
	return nil
}

func accessTime(hdr *tar.Header) time.Time {
	if hdr.AccessTime.IsZero() {
		return hdr.ModTime
	}
	return hdr.AccessTime
}

// digestHashes are the digest algorithms of the OCI image spec. (Not
// go-digest: its package compiles regular expressions when a process
// starts, and the CLI, which extracts docker cp's archives, starts often.)
var digestHashes = map[string]func() hash.Hash{"sha256": sha256.New, "sha384": sha512.New384, "sha512": sha512.New}

// checkDigest checks an "<algorithm>:<hex>" digest and returns its
// algorithm: one of digestHashes, and as many lowercase hex digits as its
// hash has.
func checkDigest(d string) (string, error) {
	alg, enc, ok := strings.Cut(d, ":")
	newHash := digestHashes[alg]
	if !ok || newHash == nil {
		return "", fmt.Errorf("unsupported digest algorithm %q", alg)
	}
	if len(enc) != 2*newHash().Size() {
		return "", fmt.Errorf("%s digest needs %d hex digits, not %d", alg, 2*newHash().Size(), len(enc))
	}
	for _, c := range []byte(enc) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", errors.New("digest is not lowercase hex")
		}
	}
	return alg, nil
}
