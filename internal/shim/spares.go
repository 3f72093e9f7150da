package shim

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// Spares keeps one shim launched ahead of need, so that starting a
// container does not wait for a shim process to start (its exec and Go
// runtime start-up are a few milliseconds on the path of every start):
// Take hands the spare its container and launches the next one in the
// background. A spare is a shim in its own directory under Dir, serving
// its socket and waiting for the assign op; Take moves the directory to
// the container's shim directory first, so the socket is where clients
// look for it.
type Spares struct {
	Binary string // the berth-shim executable
	Dir    string // where spares wait: on the filesystem of the shims' directories
	Debug  bool
	Log    *slog.Logger

	mu        sync.Mutex
	ready     []spare // ready for Take
	launching bool
	closed    bool
}

// Take makes a spare the shim of the container o describes (o.StateDir
// must not exist; o.RunOnStart is implied) and reports whether it did;
// if not (none was ready, or it failed), the caller launches one. The
// caller calls Fill for the next spare once its start is done (a launch
// now would compete with it for the CPUs).
func (p *Spares) Take(o LaunchOptions) bool {
	p.mu.Lock()
	if len(p.ready) == 0 || p.closed {
		p.mu.Unlock()
		return false
	}
	sp := p.ready[len(p.ready)-1]
	p.ready = p.ready[:len(p.ready)-1]
	p.mu.Unlock()
	dir := sp.dir
	schedNormal(sp.pid)
	if err := os.Rename(dir, o.StateDir); err != nil {
		p.log().Warn("spare shim: move to the container's directory", "err", err)
		discardSpare(dir)
		return false
	}
	opts := Options{
		ID: o.ID, Bundle: o.Bundle, Runtime: o.Runtime, RuntimeRoot: o.RuntimeRoot, StateDir: o.StateDir,
		LogPath: o.LogPath, LogFormat: o.LogFormat, LogMaxSize: o.LogMaxSize, LogMaxFiles: o.LogMaxFiles,
		TTY: o.TTY, Stdin: o.Stdin, RunOnStart: true, RebirthAfter: o.RebirthAfter,
	}
	if err := Open(o.StateDir).call(request{Op: opAssign, Options: &opts}, nil); err != nil {
		p.log().Warn("spare shim: assign", "container", o.ID, "err", err)
		discardSpare(o.StateDir)
		return false
	}
	return true
}

// Fill launches a spare in the background unless one is ready or on its
// way.
func (p *Spares) Fill() {
	p.mu.Lock()
	if p.closed || p.launching || len(p.ready) > 0 {
		p.mu.Unlock()
		return
	}
	p.launching = true
	p.mu.Unlock()
	go func() {
		sp, err := p.launch()
		p.mu.Lock()
		defer p.mu.Unlock()
		p.launching = false
		if err != nil {
			p.log().Warn("spare shim", "err", err)
			return
		}
		if p.closed {
			discardSpare(sp.dir)
			return
		}
		p.ready = append(p.ready, sp)
	}()
}

// spare is a launched spare shim.
type spare struct {
	dir string
	pid int
}

func (p *Spares) launch() (spare, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return spare{}, err
	}
	dir := filepath.Join(p.Dir, "spare-"+hex.EncodeToString(b[:]))
	pid, err := launch(LaunchOptions{Binary: p.Binary, StateDir: dir, ShimLog: filepath.Join(dir, "shim.log"), Debug: p.Debug, Spare: true})
	if err != nil {
		os.RemoveAll(dir)
		return spare{}, err
	}
	return spare{dir: dir, pid: pid}, nil
}

// Close ends the spares that wait.
func (p *Spares) Close() {
	p.mu.Lock()
	p.closed = true
	ready := p.ready
	p.ready = nil
	p.mu.Unlock()
	for _, sp := range ready {
		discardSpare(sp.dir)
	}
}

// IsSpare reports whether name (in Dir) is a spare's directory.
func IsSpare(name string) bool { return len(name) > 6 && name[:6] == "spare-" }

// discardSpare ends the spare shim in dir and removes the directory.
func discardSpare(dir string) {
	if c, err := Dial(dir); err == nil {
		if err := c.Shutdown(); err != nil && !errors.Is(err, syscall.ECONNREFUSED) {
			c.Kill(syscall.SIGKILL, true)
		}
	}
	os.RemoveAll(dir)
}

func (p *Spares) log() *slog.Logger {
	if p.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return p.Log
}
