package images

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/reference"
	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/snapshot"
	"github.com/berth-dev/berth/internal/unpack"
	"github.com/berth-dev/berth/internal/unpack/compress"
)

// Progress is one progress message of a pull or push, shaped like the
// Docker API's JSON stream.
type Progress struct {
	ID      string // short layer ID, tag, or "" for overall status
	Status  string
	Current int64
	Total   int64
}

// PullOptions tune a pull.
type PullOptions struct {
	Platform ocispec.Platform // zero: this machine's
	Creds    *registry.Credentials
	Progress func(Progress)
}

// leaseTTL bounds how long a crashed pull's partial state is protected.
const leaseTTL = time.Hour

// Pull fetches ref and unpacks it. Layers download in parallel; each is
// unpacked as its bytes arrive, in order, on top of the previous one.
func (s *Service) Pull(ctx context.Context, ref reference.Reference, opts PullOptions) (Image, error) {
	report := opts.Progress
	if report == nil {
		report = func(Progress) {}
	}
	if opts.Platform.OS == "" {
		opts.Platform = DefaultPlatform()
	}
	defer s.holdGC()()
	lease, err := s.Meta.CreateLease(leaseTTL)
	if err != nil {
		return Image{}, err
	}
	defer s.Meta.DeleteLease(lease)

	repo := s.Registry.Repository(ref, opts.Creds)
	tagOrDigest := ref.Tag
	if ref.Digest != "" {
		tagOrDigest = ref.Digest.String()
	}
	report(Progress{ID: tagOrDigest, Status: "Pulling from " + ref.FamiliarRepository()})
	target, raw, err := repo.Resolve(ctx)
	if err != nil {
		return Image{}, fmt.Errorf("pull %s: %w", ref.Familiar(), err)
	}
	if err := s.keep(ctx, lease, target.Digest, raw); err != nil {
		return Image{}, err
	}
	mdesc, mraw := target, raw
	if IsIndex(target.MediaType) {
		idx, err := ParseIndex(raw)
		if err != nil {
			return Image{}, fmt.Errorf("pull %s: %w", ref.Familiar(), err)
		}
		mdesc, err = SelectManifest(idx, opts.Platform)
		if err != nil {
			return Image{}, fmt.Errorf("pull %s: %w", ref.Familiar(), err)
		}
		d := mdesc
		if _, mraw, err = repo.Manifest(ctx, d.Digest); err != nil {
			return Image{}, fmt.Errorf("pull %s: %w", ref.Familiar(), err)
		}
		if err := s.keep(ctx, lease, d.Digest, mraw); err != nil {
			return Image{}, err
		}
		mdesc.Size = int64(len(mraw))
	} else if !IsManifest(target.MediaType) {
		return Image{}, errdefs.NotImplemented("pull %s: unsupported manifest media type %q", ref.Familiar(), target.MediaType)
	}
	man, err := ParseManifest(mraw)
	if err != nil {
		return Image{}, fmt.Errorf("pull %s: %w", ref.Familiar(), err)
	}
	if mdesc.MediaType == "" {
		mdesc.MediaType = orDefault(man.MediaType, ocispec.MediaTypeImageManifest)
	}
	cfgRaw, err := s.fetchSmall(ctx, repo, lease, man.Config)
	if err != nil {
		return Image{}, fmt.Errorf("pull %s: config: %w", ref.Familiar(), err)
	}
	cfg, err := ParseConfig(cfgRaw, len(man.Layers))
	if err != nil {
		return Image{}, fmt.Errorf("pull %s: %w", ref.Familiar(), err)
	}
	chains := ChainIDs(cfg.RootFS.DiffIDs)
	img := Image{
		ID: man.Config.Digest, Target: target, Manifest: mdesc, Added: time.Now().UTC(),
		Platform: ocispec.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant},
	}
	if cfg.Created != nil {
		img.Created = *cfg.Created
	}
	for i, l := range man.Layers {
		img.Layers = append(img.Layers, Layer{Blob: l, DiffID: cfg.RootFS.DiffIDs[i], ChainID: chains[i]})
	}
	sizes, err := s.fetchLayers(ctx, repo, lease, img.Layers, report)
	if err != nil {
		if errors.Is(err, syscall.ENOSPC) {
			// A full disk: partial downloads kept for a resume would
			// only keep it full.
			for _, l := range img.Layers {
				s.Content.AbortIngest(l.Blob.Digest)
			}
		}
		return Image{}, fmt.Errorf("pull %s: %w", ref.Familiar(), err)
	}
	for i, n := range sizes {
		img.Layers[i].Size = n
		img.Size += n
	}
	fresh, err := s.record(img, ref, ref.Repository()+"@"+target.Digest.String())
	if err != nil {
		return Image{}, err
	}
	s.scheduleSync()
	report(Progress{Status: "Digest: " + target.Digest.String()})
	name := ref.Familiar()
	if fresh {
		report(Progress{Status: "Status: Downloaded newer image for " + name})
	} else {
		report(Progress{Status: "Status: Image is up to date for " + name})
	}
	s.publish("pull", img.ID.String(), ref.String())
	return img, nil
}

// keep stores a verified manifest blob under the pull's lease.
func (s *Service) keep(ctx context.Context, lease string, d digest.Digest, b []byte) error {
	if err := s.Meta.LeaseContent(lease, d.String()); err != nil {
		return err
	}
	return s.Content.Put(ctx, d, b)
}

// fetchSmall fetches a config-sized blob into the store and returns it.
func (s *Service) fetchSmall(ctx context.Context, repo *registry.Repo, lease string, d ocispec.Descriptor) ([]byte, error) {
	if err := s.Meta.LeaseContent(lease, d.Digest.String()); err != nil {
		return nil, err
	}
	if b, err := s.Content.ReadBlob(ctx, d.Digest, maxConfig); err == nil {
		return b, nil
	}
	rc, _, err := repo.Blob(ctx, d.Digest, 0)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxConfig+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > maxConfig {
		return nil, errdefs.InvalidArgument("blob %s exceeds the %d-byte limit", d.Digest, maxConfig)
	}
	if got := digest.FromBytes(b); got != d.Digest {
		return nil, errdefs.InvalidArgument("blob digest mismatch: got %s, want %s", got, d.Digest)
	}
	return b, s.Content.Put(ctx, d.Digest, b)
}

func short(d digest.Digest) string {
	e := d.Encoded()
	if len(e) > 12 {
		return e[:12]
	}
	return e
}

// fetchLayers downloads the missing layer blobs in parallel and unpacks
// each into its snapshot as it streams in. It returns unpacked sizes.
func (s *Service) fetchLayers(ctx context.Context, repo *registry.Repo, lease string, layers []Layer, report func(Progress)) ([]int64, error) {
	g, ctx := errgroup.WithContext(ctx)
	streams := make([]*growing, len(layers))
	needUnpack := make([]bool, len(layers))
	sizes := make([]int64, len(layers))
	limit := make(chan struct{}, max(s.Downloads, 1))
	if s.Downloads == 0 {
		limit = make(chan struct{}, 3)
	}
	for i, l := range layers {
		id := short(l.Blob.Digest)
		_, serr := s.Snaps.Stat(ctx, l.ChainID.String())
		_, cerr := s.Content.Info(ctx, l.Blob.Digest)
		needUnpack[i] = serr != nil
		if err := s.Meta.LeaseContent(lease, l.Blob.Digest.String()); err != nil {
			return nil, err
		}
		if !needUnpack[i] {
			if u, err := s.Snaps.Usage(ctx, l.ChainID.String()); err == nil {
				sizes[i] = u.Size
			}
		}
		if !needUnpack[i] && cerr == nil {
			report(Progress{ID: id, Status: "Already exists"})
			continue
		}
		report(Progress{ID: id, Status: "Pulling fs layer"})
		streams[i] = newGrowing()
		st, desc := streams[i], l.Blob
		g.Go(func() error {
			select {
			case limit <- struct{}{}:
			case <-ctx.Done():
				st.finish(ctx.Err())
				return ctx.Err()
			}
			defer func() { <-limit }()
			err := s.download(ctx, repo, desc, st, report)
			st.finish(err)
			if err != nil {
				return fmt.Errorf("layer %s: %w", desc.Digest, err)
			}
			report(Progress{ID: id, Status: "Download complete"})
			return nil
		})
	}
	if rb, ok := s.Snaps.(Rebaser); ok {
		s.unpackParallel(ctx, g, rb, lease, layers, needUnpack, streams, sizes, report)
	} else {
		g.Go(func() error {
			parent := ""
			for i, l := range layers {
				if needUnpack[i] {
					n, err := s.unpackLayer(ctx, lease, l, parent, streams[i], report, nil)
					if err != nil {
						return err
					}
					sizes[i] = n
				}
				parent = l.ChainID.String()
			}
			return nil
		})
	}
	err := g.Wait()
	for _, st := range streams {
		if st != nil {
			st.close()
		}
	}
	if err != nil {
		return nil, err
	}
	return sizes, nil
}

// download fetches one blob into the content store, resuming partial
// data and retrying interrupted transfers from where they stopped.
func (s *Service) download(ctx context.Context, repo *registry.Repo, desc ocispec.Descriptor, st *growing, report func(Progress)) (err error) {
	id := short(desc.Digest)
	w, err := s.Content.Writer(ctx, desc.Digest, desc.Size)
	if errdefs.IsAlreadyExists(err) {
		f, err := s.Content.Open(ctx, desc.Digest)
		if err != nil {
			return err
		}
		st.start(f, desc.Size)
		return nil
	}
	if err != nil {
		return err
	}
	defer func() {
		// Partial data is kept for a resume only when the network broke;
		// after a local failure (a full disk, a bad stream) it only
		// takes space.
		if err != nil && !errdefs.IsUnavailable(err) && ctx.Err() == nil {
			w.Discard()
		}
		w.Close()
	}()
	rf, err := w.OpenReader()
	if err != nil {
		return err
	}
	st.start(rf, w.Offset())
	pw := &progressWriter{w: w, st: st, report: report, id: id, total: desc.Size}
	// Retry interrupted transfers from where they stopped. Only attempts
	// that make no progress count against the limit, so a flaky but
	// moving connection still finishes.
	for failures := 0; ; {
		off := w.Offset()
		if off >= desc.Size {
			break
		}
		err = s.copyFrom(ctx, repo, desc.Digest, off, pw)
		if err == nil {
			break
		}
		if ctx.Err() != nil || pw.werr != nil || errdefs.IsInvalidArgument(err) || errdefs.IsNotFound(err) || errdefs.IsPermissionDenied(err) {
			return err
		}
		if w.Offset() == off {
			failures++
		}
		if failures == 4 {
			return err
		}
		s.log().Warn("layer download interrupted, resuming", "digest", desc.Digest, "offset", w.Offset(), "err", err)
		time.Sleep(time.Duration(failures+1) * 200 * time.Millisecond)
	}
	report(Progress{ID: id, Status: "Verifying Checksum"})
	return w.Commit()
}

func (s *Service) copyFrom(ctx context.Context, repo *registry.Repo, d digest.Digest, off int64, w io.Writer) error {
	body, from, err := repo.Blob(ctx, d, off)
	if err != nil {
		return err
	}
	defer body.Close()
	if from < off { // the server ignored the range: skip what we have
		if _, err := io.CopyN(io.Discard, body, off-from); err != nil {
			return errdefs.Unavailable("blob %s: %v", d, err)
		}
	}
	if _, err := io.Copy(w, body); err != nil {
		if pw, ok := w.(*progressWriter); ok && pw.werr != nil {
			return fmt.Errorf("blob %s: %w", d, pw.werr) // local: not worth a retry
		}
		return errdefs.Unavailable("blob %s: transfer interrupted: %v", d, err)
	}
	return nil
}

type progressWriter struct {
	werr   error // the store's write error, as opposed to the network's
	w      io.Writer
	st     *growing
	report func(Progress)
	id     string
	total  int64
	n      int64
	last   time.Time
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	if err != nil {
		p.werr = err
	}
	p.st.advance(int64(n))
	p.n += int64(n)
	if now := time.Now(); now.Sub(p.last) > 100*time.Millisecond {
		p.last = now
		p.report(Progress{ID: p.id, Status: "Downloading", Current: p.n, Total: p.total})
	}
	return n, err
}

// Rebaser is a snapshotter whose layers hold only their own changes
// (overlay), so a layer can be unpacked without its parent and chained
// onto it afterwards.
type Rebaser interface {
	CommitOnto(ctx context.Context, name, key, parent string, labels map[string]string) error
}

// unpackParallel unpacks every layer at once into parentless snapshots
// (at most one per CPU at a time) and commits them in order, each onto
// the one below, as soon as that one is committed.
func (s *Service) unpackParallel(ctx context.Context, g *errgroup.Group, rb Rebaser, lease string, layers []Layer,
	needUnpack []bool, streams []*growing, sizes []int64, report func(Progress)) {
	done := make([]chan struct{}, len(layers))
	for i := range layers {
		done[i] = make(chan struct{})
		if !needUnpack[i] {
			close(done[i])
		}
	}
	slots := make(chan struct{}, max(2, runtime.NumCPU()))
	for i, l := range layers {
		if !needUnpack[i] {
			continue
		}
		parent := ""
		if i > 0 {
			parent = layers[i-1].ChainID.String()
		}
		g.Go(func() error {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
			var once sync.Once
			release := func() { once.Do(func() { <-slots }) }
			defer release()
			commit := func(key string) error {
				release() // extraction is done; waiting for the parent costs no CPU
				if i > 0 {
					select {
					case <-done[i-1]:
					case <-ctx.Done():
						return ctx.Err()
					}
				}
				return rb.CommitOnto(ctx, l.ChainID.String(), key, parent, nil)
			}
			n, err := s.unpackLayer(ctx, lease, l, "", streams[i], report, commit)
			if err != nil {
				return err
			}
			sizes[i] = n
			close(done[i])
			return nil
		})
	}
}

// unpackLayer extracts one layer into a fresh snapshot on parent and
// commits it under the layer's chain ID once the blob is verified (with
// commit, if given, instead of a plain Commit).
func (s *Service) unpackLayer(ctx context.Context, lease string, l Layer, parent string, st *growing, report func(Progress), commit func(key string) error) (int64, error) {
	var rnd [6]byte
	rand.Read(rnd[:])
	key := "extract-" + hex.EncodeToString(rnd[:]) + "-" + short(l.ChainID)
	if err := s.Meta.LeaseSnapshot(lease, key, l.ChainID.String()); err != nil {
		return 0, err
	}
	if _, err := s.Snaps.Prepare(ctx, key, parent, nil); err != nil {
		return 0, fmt.Errorf("layer %s: %w", l.Blob.Digest, err)
	}
	ok := false
	defer func() {
		if !ok {
			s.Snaps.Remove(context.WithoutCancel(ctx), key)
		}
	}()
	dir, err := s.Snaps.UpperDir(ctx, key)
	if err != nil {
		return 0, err
	}
	mode := unpack.WhiteoutDelete
	if s.Snaps.WhiteoutMode() == snapshot.WhiteoutOverlay {
		mode = unpack.WhiteoutOverlay
	}
	id := short(l.Blob.Digest)
	r := &extractProgress{r: st.reader(ctx), report: report, id: id, total: l.Blob.Size}
	t0 := time.Now()
	res, err := unpack.Apply(ctx, dir, r, string(l.DiffID), unpack.Options{Whiteouts: mode, Decompress: compress.Decompress})
	t1 := time.Now()
	if err != nil {
		if derr := st.wait(); derr != nil {
			err = derr // a bad download explains a bad stream
		}
		return 0, fmt.Errorf("layer %s: %w", l.Blob.Digest, err)
	}
	if err := st.wait(); err != nil {
		return 0, fmt.Errorf("layer %s: %w", l.Blob.Digest, err)
	}
	if commit == nil {
		commit = func(key string) error { return s.Snaps.Commit(ctx, l.ChainID.String(), key, nil) }
	}
	t2 := time.Now()
	err = commit(key)
	s.log().Debug("layer unpacked", "layer", id, "files", res.Files, "bytes", res.Size,
		"extract", t1.Sub(t0), "verify-wait", t2.Sub(t1), "commit", time.Since(t2))
	if err != nil && !errdefs.IsAlreadyExists(err) {
		return 0, fmt.Errorf("layer %s: %w", l.Blob.Digest, err)
	} else if err != nil {
		s.Snaps.Remove(ctx, key) // a concurrent pull committed the same layer
	}
	ok = true
	report(Progress{ID: id, Status: "Pull complete"})
	return res.Size, nil
}

type extractProgress struct {
	r      io.Reader
	report func(Progress)
	id     string
	total  int64
	n      int64
	last   time.Time
}

func (p *extractProgress) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if now := time.Now(); now.Sub(p.last) > 100*time.Millisecond {
		p.last = now
		p.report(Progress{ID: p.id, Status: "Extracting", Current: p.n, Total: p.total})
	}
	return n, err
}
