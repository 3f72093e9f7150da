package images

import (
	"context"
	"io"
	"os"
	"sync"
)

// growing tracks a blob being downloaded so the unpacker can read it as
// it arrives: bytes up to n are on disk in f; done says no more will come.
type growing struct {
	mu   sync.Mutex
	cond *sync.Cond
	f    *os.File // read handle; nil until the download has started
	n    int64
	done bool
	err  error
}

func newGrowing() *growing {
	g := &growing{}
	g.cond = sync.NewCond(&g.mu)
	return g
}

func (g *growing) start(f *os.File, have int64) {
	g.mu.Lock()
	g.f, g.n = f, have
	g.mu.Unlock()
	g.cond.Broadcast()
}

func (g *growing) advance(n int64) {
	g.mu.Lock()
	g.n += n
	g.mu.Unlock()
	g.cond.Broadcast()
}

// finish ends the download with err (nil when committed and verified).
func (g *growing) finish(err error) {
	g.mu.Lock()
	g.done, g.err = true, err
	g.mu.Unlock()
	g.cond.Broadcast()
}

// close releases the read handle once nobody reads any more.
func (g *growing) close() {
	g.mu.Lock()
	if g.f != nil {
		g.f.Close()
		g.f = nil
	}
	g.mu.Unlock()
}

// wait returns when the download finished (successfully or not).
func (g *growing) wait() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	for !g.done {
		g.cond.Wait()
	}
	return g.err
}

// reader follows the blob from offset 0; it fails with the download's
// error, and ends at EOF once the download is complete.
func (g *growing) reader(ctx context.Context) io.Reader {
	stop := context.AfterFunc(ctx, func() {
		g.mu.Lock()
		g.mu.Unlock()
		g.cond.Broadcast()
	})
	return &follower{g: g, ctx: ctx, stop: stop}
}

type follower struct {
	g    *growing
	ctx  context.Context
	stop func() bool
	off  int64
}

func (r *follower) Read(p []byte) (int, error) {
	g := r.g
	g.mu.Lock()
	for (g.f == nil || r.off >= g.n) && !g.done && r.ctx.Err() == nil {
		g.cond.Wait()
	}
	f, n, done, err := g.f, g.n, g.done, g.err
	g.mu.Unlock()
	if r.ctx.Err() != nil {
		return 0, r.ctx.Err()
	}
	if err != nil {
		return 0, err
	}
	if r.off >= n && done {
		r.stop()
		return 0, io.EOF
	}
	if int64(len(p)) > n-r.off {
		p = p[:n-r.off]
	}
	k, rerr := f.ReadAt(p, r.off)
	r.off += int64(k)
	if rerr == io.EOF && k > 0 {
		rerr = nil
	}
	return k, rerr
}
