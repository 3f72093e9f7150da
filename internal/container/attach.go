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
	opts      AttachOptions
	stdinOnce bool
	user      chan io.ReadWriteCloser // the client's stream, once it has been answered
	done      chan error
}

// Attach connects a client to the container's stdio until the container's
// output ends or ctx ends. The client's stream comes from open, called
// only once the attachment is registered: a client told "attached" (docker
// run then starts the container) must see the output from its first byte.
// A client that attaches before start is connected when the container
// starts.
func (s *Service) Attach(ctx context.Context, term string, opts AttachOptions, open func() (io.ReadWriteCloser, error)) error {
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
		conn, err := attachShim(cl, opts, c.Config.StdinOnce) // registered: output is queued for us
		if err != nil {
			return err
		}
		user, err := open()
		if err != nil {
			conn.Close()
			return err
		}
		return splice(ctx, conn, user, opts.Stdin)
	case c.State.Status == StatusCreated || c.State.Status == StatusExited || c.State.Status == StatusRestarting:
		p := &pendingAttach{opts: opts, stdinOnce: c.Config.StdinOnce, user: make(chan io.ReadWriteCloser, 1), done: make(chan error, 1)}
		s.mu.Lock()
		s.pending[c.ID] = append(s.pending[c.ID], p)
		s.mu.Unlock()
		unlock()
		user, err := open()
		if err != nil {
			s.dropPending(c.ID, p)
			return err
		}
		p.user <- user
		select {
		case err := <-p.done:
			return err
		case <-ctx.Done():
			s.dropPending(c.ID, p)
			return ctx.Err()
		}
	}
	unlock()
	return errdefs.Conflict("you cannot attach to a %s container", c.State.Status)
}

// attachShim attaches to the shim; with Docker's StdinOnce (docker run
// -i), the end of the client's input closes the container's stdin, so
// that its process reads EOF.
func attachShim(cl *shim.Client, opts AttachOptions, stdinOnce bool) (net.Conn, error) {
	if opts.Stdin && stdinOnce {
		return cl.AttachStdinOnce(opts.Stdout, opts.Stderr)
	}
	return cl.Attach(opts.Stdin, opts.Stdout, opts.Stderr)
}

func (s *Service) dropPending(id string, p *pendingAttach) {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.pending[id]
	for i, q := range list {
		if q == p {
			s.pending[id] = append(list[:i], list[i+1:]...)
			return
		}
	}
}

// connectPending registers clients waiting for the start with the new
// shim, before the container's process runs; each is spliced once its
// stream is ready.
func (s *Service) connectPending(id string, cl *shim.Client) {
	s.mu.Lock()
	list := s.pending[id]
	delete(s.pending, id)
	s.mu.Unlock()
	for _, p := range list {
		conn, err := attachShim(cl, p.opts, p.stdinOnce)
		if err != nil {
			p.done <- err
			continue
		}
		go func() {
			user := <-p.user
			p.done <- splice(context.Background(), conn, user, p.opts.Stdin)
		}()
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
