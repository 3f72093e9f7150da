package container

import (
	"context"
	"io"
	"net"
	"sync"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/shim"
)

// AttachOptions say which streams a client wants.
type AttachOptions struct {
	Stdin, Stdout, Stderr bool
}

type pendingAttach struct {
	opts AttachOptions
	user io.ReadWriteCloser
	done chan error
}

// Attach connects user (a hijacked API connection) to the container's
// stdio until the container's output ends or ctx ends. A client that
// attaches before start (docker run does) is connected when it starts, so
// it sees the output from the first byte.
func (s *Service) Attach(ctx context.Context, term string, opts AttachOptions, user io.ReadWriteCloser) error {
	c, err := s.Get(term)
	if err != nil {
		return err
	}
	unlock := s.lock(c.ID)
	c, err = s.Get(c.ID)
	if err != nil {
		unlock()
		return err
	}
	switch {
	case c.State.Running():
		unlock()
		cl, err := shim.Dial(s.shimDir(c.ID))
		if err != nil {
			return err
		}
		conn, err := cl.Attach(opts.Stdin, opts.Stdout, opts.Stderr)
		if err != nil {
			return err
		}
		return splice(ctx, conn, user, opts.Stdin)
	case c.State.Status == StatusCreated || c.State.Status == StatusExited || c.State.Status == StatusRestarting:
		p := &pendingAttach{opts: opts, user: user, done: make(chan error, 1)}
		s.mu.Lock()
		s.pending[c.ID] = append(s.pending[c.ID], p)
		s.mu.Unlock()
		unlock()
		select {
		case err := <-p.done:
			return err
		case <-ctx.Done():
			s.mu.Lock()
			list := s.pending[c.ID]
			for i, q := range list {
				if q == p {
					s.pending[c.ID] = append(list[:i], list[i+1:]...)
					break
				}
			}
			s.mu.Unlock()
			return ctx.Err()
		}
	}
	unlock()
	return errdefs.Conflict("you cannot attach to a %s container", c.State.Status)
}

// connectPending hands clients waiting for the start to the new shim,
// before the container's process runs.
func (s *Service) connectPending(id string, cl *shim.Client) {
	s.mu.Lock()
	list := s.pending[id]
	delete(s.pending, id)
	s.mu.Unlock()
	for _, p := range list {
		conn, err := cl.Attach(p.opts.Stdin, p.opts.Stdout, p.opts.Stderr)
		if err != nil {
			p.done <- err
			continue
		}
		go func() { p.done <- splice(context.Background(), conn, p.user, p.opts.Stdin) }()
	}
}

// splice copies the shim's stream to the user until it ends, and the
// user's input to the shim.
func splice(ctx context.Context, conn net.Conn, user io.ReadWriteCloser, stdin bool) error {
	var once sync.Once
	closeAll := func() { once.Do(func() { conn.Close() }) }
	stop := context.AfterFunc(ctx, closeAll)
	defer stop()
	if stdin {
		go func() {
			io.Copy(conn, user)
			if uc, ok := conn.(interface{ CloseWrite() error }); ok {
				uc.CloseWrite()
			}
		}()
	}
	_, err := io.Copy(user, conn)
	closeAll()
	return err
}

// Resize sets the terminal size of a tty container.
func (s *Service) Resize(term string, height, width int) error {
	c, err := s.Get(term)
	if err != nil {
		return err
	}
	if !c.State.Running() {
		return errdefs.Conflict("container %s is not running", term)
	}
	cl, err := shim.Dial(s.shimDir(c.ID))
	if err != nil {
		return err
	}
	return cl.Resize(width, height)
}
