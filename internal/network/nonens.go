package network

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// NonePool gives containers on no network (--network none) a namespace of
// their own holding only lo, up, as Docker's have. It keeps one made
// ahead, since making a network namespace is the costliest part of a
// container's namespaces (~0.5 ms of the kernel's time): a container
// takes it at its start and the next one is made once that start is done.
// A taken namespace is pinned at Dir/<container id> (a bind mount of the
// pool's pin, which goes), so that its release and the recovery after a
// crash need nothing but the id.
type NonePool struct {
	Dir string
	Log *slog.Logger

	mu     sync.Mutex
	ready  string // a pool pin, "" if none
	making bool
	closed bool
	unpins sync.WaitGroup // pool pins of taken namespaces, going
}

const poolPrefix = "pool-"

// Take pins a namespace for container id and returns its path: the one
// made ahead if ready, else one made now.
func (p *NonePool) Take(id string) (string, error) {
	dst := filepath.Join(p.Dir, id)
	Unpin(dst) // left by a crash
	p.mu.Lock()
	src := p.ready
	p.ready = ""
	p.mu.Unlock()
	if src != "" {
		err := moveMount(src, dst)
		// The pool's pin goes in the background: its unmount waits for
		// an RCU grace period that the start need not (this step of
		// berthd's start: 227 -> 52 µs). One a crash leaves is cleaned
		// at the next start (Clean).
		p.unpins.Go(func() { RemoveNetNS(src) })
		if err == nil {
			return dst, nil
		}
		p.log().Warn("network namespace made ahead", "err", err)
	}
	if err := NewNetNS(dst); err != nil {
		return "", fmt.Errorf("network namespace: %w", err)
	}
	return dst, nil
}

// moveMount pins at dst the namespace pinned at src (both stay pinned).
func moveMount(src, dst string) error {
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return err
	}
	f.Close()
	if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
		os.Remove(dst)
		return err
	}
	return nil
}

// Fill makes the next namespace ahead, in the background, unless one is
// ready or on its way.
func (p *NonePool) Fill() {
	p.mu.Lock()
	if p.closed || p.making || p.ready != "" {
		p.mu.Unlock()
		return
	}
	p.making = true
	p.mu.Unlock()
	go func() {
		var b [8]byte
		rand.Read(b[:])
		path := filepath.Join(p.Dir, poolPrefix+hex.EncodeToString(b[:]))
		err := newNetNSIdle(path)
		p.mu.Lock()
		defer p.mu.Unlock()
		p.making = false
		switch {
		case err != nil:
			p.log().Warn("network namespace made ahead", "err", err)
		case p.closed:
			RemoveNetNS(path)
		default:
			p.ready = path
		}
	}()
}

// Release unpins container id's namespace (the kernel frees it once the
// last process in it is gone); none is fine.
func (p *NonePool) Release(id string) error { return Unpin(filepath.Join(p.Dir, id)) }

// Unpin is RemoveNetNS for a path that may not exist.
func Unpin(path string) error {
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return RemoveNetNS(path)
}

// Clean unpins what a previous daemon left: namespaces made ahead, and
// those of containers not in keep.
func (p *NonePool) Clean(keep func(id string) bool) {
	ents, _ := os.ReadDir(p.Dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), poolPrefix) || !keep(e.Name()) {
			RemoveNetNS(filepath.Join(p.Dir, e.Name()))
		}
	}
}

// Close unpins the namespace made ahead.
func (p *NonePool) Close() {
	p.mu.Lock()
	p.closed = true
	if p.ready != "" {
		RemoveNetNS(p.ready)
		p.ready = ""
	}
	p.mu.Unlock()
	p.unpins.Wait()
}

func (p *NonePool) log() *slog.Logger {
	if p.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return p.Log
}
