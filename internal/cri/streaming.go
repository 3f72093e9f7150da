package cri

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"k8s.io/cri-streaming/pkg/streaming"
	remotecommandserver "k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"

	ctr "github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/network"
	"github.com/berth-dev/berth/internal/shim"
)

// startStreaming serves exec, attach and port-forward streams (the
// kubelet's streaming protocols, through k8s.io/cri-streaming) on a
// loopback port; the RPCs hand out URLs to it.
func (s *Server) startStreaming() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("streaming server: %w", err)
	}
	cfg := streaming.DefaultConfig
	cfg.Addr = l.Addr().String()
	cfg.BaseURL = &url.URL{Scheme: "http", Host: cfg.Addr}
	srv, err := streaming.NewServer(cfg, streamRuntime{s})
	if err != nil {
		l.Close()
		return err
	}
	s.stream = srv
	s.streamHTTP = &http.Server{Handler: srv, ReadHeaderTimeout: 30 * time.Second}
	go s.streamHTTP.Serve(l)
	return nil
}

// streamRuntime runs the streams for the streaming server.
type streamRuntime struct{ s *Server }

// Exec runs cmd in the container with the client's streams; a non-zero
// exit is reported as the exit error the protocol carries.
func (r streamRuntime) Exec(ctx context.Context, id string, cmd []string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommandserver.TerminalSize) error {
	c, err := r.s.getContainer(id)
	if err != nil {
		return err
	}
	execID, err := r.s.Containers.CreateExec(c.ID, ctr.ExecConfig{Cmd: cmd, Tty: tty, Stdin: in != nil})
	if err != nil {
		return err
	}
	go func() {
		for sz := range resize {
			r.s.Containers.ResizeExec(execID, int(sz.Height), int(sz.Width))
		}
	}()
	user := newStreamUser(in, out, errw, tty)
	err = r.s.Containers.StartExec(ctx, execID, user)
	user.finish()
	if err != nil {
		return err
	}
	e, err := r.s.Containers.InspectExec(execID)
	if err != nil {
		return err
	}
	if e.ExitCode != nil && *e.ExitCode != 0 {
		return utilexec.CodeExitError{Err: fmt.Errorf("command terminated with exit code %d", *e.ExitCode), Code: *e.ExitCode}
	}
	return nil
}

// Attach connects the client's streams to the container's stdio.
func (r streamRuntime) Attach(ctx context.Context, id string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommandserver.TerminalSize) error {
	c, err := r.s.getContainer(id)
	if err != nil {
		return err
	}
	go func() {
		for sz := range resize {
			r.s.Containers.Resize(c.ID, int(sz.Height), int(sz.Width))
		}
	}()
	user := newStreamUser(in, out, errw, c.Config.Tty)
	err = r.s.Containers.Attach(ctx, c.ID, ctr.AttachOptions{Stdin: in != nil, Stdout: out != nil, Stderr: errw != nil},
		func() (io.ReadWriteCloser, error) { return user, nil })
	user.finish()
	return err
}

// PortForward connects stream to port on the pod's loopback, dialled from
// inside the pod's network namespace.
func (r streamRuntime) PortForward(ctx context.Context, podID string, port int32, stream io.ReadWriteCloser) error {
	sb, err := r.s.getSandbox(podID)
	if err != nil {
		return err
	}
	defer stream.Close()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port)))
	var conn net.Conn
	dial := func() error {
		var err error
		conn, err = (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, "tcp", addr)
		return err
	}
	if ns := r.s.netnsPath(&sb); ns != "" {
		err = network.InNetNS(ns, dial)
	} else {
		err = dial()
	}
	if err != nil {
		return errdefs.Unavailable("port forward to %s in pod %s: %v", addr, sb.ID[:12], err)
	}
	defer conn.Close()
	done := make(chan struct{}, 2)
	go func() { io.Copy(conn, stream); conn.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	go func() { io.Copy(stream, conn); done <- struct{}{} }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	return nil
}

// streamUser is a client's streams as the container service sees an
// attached user: reads are the client's input, writes the shim's output
// (multiplexed unless tty), split onto out and err.
type streamUser struct {
	in       io.Reader
	out, err io.WriteCloser
	tty      bool
	pw       *io.PipeWriter
	demuxed  sync.WaitGroup
	once     sync.Once
}

func newStreamUser(in io.Reader, out, errw io.WriteCloser, tty bool) *streamUser {
	u := &streamUser{in: in, out: out, err: errw, tty: tty}
	if !tty {
		pr, pw := io.Pipe()
		u.pw = pw
		u.demuxed.Add(1)
		go func() {
			defer u.demuxed.Done()
			shim.Demux(pr, orDiscard(out), orDiscard(errw))
			io.Copy(io.Discard, pr)
		}()
	}
	return u
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

func (u *streamUser) Read(p []byte) (int, error) {
	if u.in == nil {
		return 0, io.EOF
	}
	return u.in.Read(p)
}

func (u *streamUser) Write(p []byte) (int, error) {
	if u.tty {
		if u.out == nil {
			return len(p), nil
		}
		return u.out.Write(p)
	}
	return u.pw.Write(p)
}

func (u *streamUser) Close() error { return nil }

// finish flushes the demultiplexed output.
func (u *streamUser) finish() {
	u.once.Do(func() {
		if u.pw != nil {
			u.pw.Close()
			u.demuxed.Wait()
		}
	})
}
