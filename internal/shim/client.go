package shim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"syscall"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/errdefs"
)

// callTimeout bounds the ops that answer at once (start may run hooks).
const callTimeout = 3 * time.Minute

// Client talks to one shim. Each call is one connection, so a Client is
// safe for concurrent use and survives berthd restarts (Dial again).
type Client struct {
	stateDir string
	sock     string
}

// Dial connects to the shim whose state directory is stateDir. An
// errdefs.ErrUnavailable error means no shim answers there.
func Dial(stateDir string) (*Client, error) {
	c := &Client{stateDir: stateDir, sock: filepath.Join(stateDir, SocketName)}
	conn, err := dialUnix(c.sock)
	if err != nil {
		return nil, errdefs.Unavailable("shim at %s: %v", stateDir, err)
	}
	conn.Close()
	return c, nil
}

// Open returns a client for the shim of stateDir without checking that one
// answers there (Dial does, at the cost of a connection): its calls fail
// with errdefs.ErrUnavailable when none does.
func Open(stateDir string) *Client {
	return &Client{stateDir: stateDir, sock: filepath.Join(stateDir, SocketName)}
}

// StateDir is the directory the client was dialled with.
func (c *Client) StateDir() string { return c.stateDir }

// roundTrip sends req and decodes the answer into resp. With keep, the
// connection is returned open for the stream that follows.
func (c *Client) roundTrip(ctx context.Context, req request, resp any, keep bool) (*net.UnixConn, error) {
	conn, err := dialUnix(c.sock)
	if err != nil {
		return nil, errdefs.Unavailable("shim at %s: %v", c.stateDir, err)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	b, err := json.Marshal(req)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if _, err := conn.Write(append(b, '\n')); err != nil {
		conn.Close()
		return nil, c.connError(ctx, req.Op, err)
	}
	var line []byte
	if keep {
		line, err = readReplyLine(conn)
	} else {
		// Nothing follows the answer: read it in as few calls as it takes.
		line, err = bufio.NewReaderSize(conn, 512).ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			line, err = readLongLine(line, conn)
		}
		line = bytes.TrimSuffix(line, []byte{'\n'})
	}
	if err != nil {
		conn.Close()
		return nil, c.connError(ctx, req.Op, err)
	}
	var e errorReply
	if err := json.Unmarshal(line, &e); err != nil {
		conn.Close()
		return nil, fmt.Errorf("shim %s: bad reply %q: %w", req.Op, line, err)
	}
	if e.Error != "" {
		conn.Close()
		return nil, errorFromReply(e)
	}
	if resp != nil {
		if err := json.Unmarshal(line, resp); err != nil {
			conn.Close()
			return nil, fmt.Errorf("shim %s: bad reply %q: %w", req.Op, line, err)
		}
	}
	if !keep {
		conn.Close()
		return nil, nil
	}
	if !stop() {
		conn.Close()
		return nil, ctx.Err()
	}
	return conn, nil
}

func (c *Client) connError(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errdefs.Unavailable("shim %s: %v", op, err)
}

// readReplyLine reads the answer byte by byte, so that nothing of the
// stream after it is consumed.
func readReplyLine(conn net.Conn) ([]byte, error) {
	var line []byte
	var b [1]byte
	for len(line) < 1<<20 {
		if _, err := io.ReadFull(conn, b[:]); err != nil {
			return nil, err
		}
		if b[0] == '\n' {
			return line, nil
		}
		line = append(line, b[0])
	}
	return nil, errors.New("reply too long")
}

// readLongLine completes a reply longer than the first read's buffer.
func readLongLine(head []byte, conn net.Conn) ([]byte, error) {
	rest, err := readReplyLine(conn)
	if err != nil {
		return nil, err
	}
	return append(append([]byte(nil), head...), rest...), nil
}

func (c *Client) call(req request, resp any) error {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	_, err := c.roundTrip(ctx, req, resp, false)
	return err
}

// State returns the container's status.
func (c *Client) State() (State, error) {
	var st State
	err := c.call(request{Op: opState}, &st)
	return st, err
}

// Start starts the created container's process and returns its state
// then (its pid), which saves the caller a State call.
func (c *Client) Start() (State, error) {
	var st State
	err := c.call(request{Op: opStart}, &st)
	return st, err
}

// Wait returns once the container has exited and its output is in the
// log. When the shim is gone it falls back to the recorded exit.json.
func (c *Client) Wait(ctx context.Context) (ExitStatus, error) {
	var e ExitStatus
	_, err := c.roundTrip(ctx, request{Op: opWait}, &e, false)
	// A shim handing over to a fresh image of itself drops its waiters,
	// and its socket answers again at once: ask again while it does.
	for i := 0; i < 100 && err != nil && errdefs.IsUnavailable(err) && ctx.Err() == nil && c.answers(); i++ {
		_, err = c.roundTrip(ctx, request{Op: opWait}, &e, false)
	}
	if err != nil && errdefs.IsUnavailable(err) {
		if fe, ferr := ReadExitFile(c.stateDir); ferr == nil {
			return fe, nil
		}
	}
	return e, err
}

// answers reports whether a shim accepts connections on the socket.
func (c *Client) answers() bool {
	conn, err := dialUnix(c.sock)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// Kill signals the container's init, or with all every process in it.
func (c *Client) Kill(sig syscall.Signal, all bool) error {
	return c.call(request{Op: opKill, Signal: int(sig), All: all}, nil)
}

// Resize sets the container terminal's size.
func (c *Client) Resize(width, height int) error {
	return c.call(request{Op: opResize, Width: width, Height: height}, nil)
}

// CloseStdin closes the container's stdin (the process reads EOF).
func (c *Client) CloseStdin() error { return c.call(request{Op: opCloseStdin}, nil) }

// ReopenLog reopens a CRI log after the kubelet rotated it.
func (c *Client) ReopenLog() error { return c.call(request{Op: opReopenLog}, nil) }

// Attach returns a connection carrying the container's output from now on
// (multiplexed unless it has a terminal; see Demux) and taking its stdin.
// The shim closes it when the output ends. (*net.UnixConn).CloseWrite
// ends this client's input without closing the container's stdin.
func (c *Client) Attach(stdin, stdout, stderr bool) (net.Conn, error) {
	return c.attach(request{Op: opAttach, Stdin: stdin, Stdout: stdout, Stderr: stderr})
}

// AttachStdinOnce is Attach with stdin, where the end of the connection's
// input (its write side closed) closes the container's stdin, after
// everything sent before has been written to it.
func (c *Client) AttachStdinOnce(stdout, stderr bool) (net.Conn, error) {
	return c.attach(request{Op: opAttach, Stdin: true, Stdout: stdout, Stderr: stderr, StdinOnce: true})
}

func (c *Client) attach(req request) (net.Conn, error) {
	conn, err := c.roundTrip(context.Background(), req, nil, true)
	if err != nil {
		return nil, err
	}
	return conn, nil
}

// Exec starts process in the container and returns its pid and a
// connection that is its stdio (as Attach's), closed once it has exited;
// then ExecState has its exit code. Closing the connection's write side
// closes the process's stdin.
func (c *Client) Exec(execID string, process specs.Process, tty, stdin bool) (int, net.Conn, error) {
	var r execReply
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	conn, err := c.roundTrip(ctx, request{Op: opExec, ExecID: execID, Process: &process, TTY: tty, Stdin: stdin}, &r, true)
	if err != nil {
		return 0, nil, err
	}
	return r.Pid, conn, nil
}

// ExecState returns the status of an exec.
func (c *Client) ExecState(execID string) (ExecState, error) {
	var st ExecState
	err := c.call(request{Op: opExecState, ExecID: execID}, &st)
	return st, err
}

// ExecResize sets an exec terminal's size.
func (c *Client) ExecResize(execID string, width, height int) error {
	return c.call(request{Op: opExecResize, ExecID: execID, Width: width, Height: height}, nil)
}

// Shutdown ends the shim of a stopped container (after deleting it from
// the runtime); it fails with errdefs.ErrConflict while it runs.
func (c *Client) Shutdown() error { return c.call(request{Op: opShutdown}, nil) }

// Demux copies a multiplexed stream to stdout and stderr (either may be
// nil to discard) until r ends.
func Demux(r io.Reader, stdout, stderr io.Writer) error {
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		n := int64(binary.BigEndian.Uint32(hdr[4:]))
		var w io.Writer
		switch hdr[0] {
		case StreamStdout:
			w = stdout
		case StreamStderr:
			w = stderr
		default:
			return fmt.Errorf("bad stream id %d", hdr[0])
		}
		if w == nil {
			w = io.Discard
		}
		if _, err := io.CopyN(w, r, n); err != nil {
			return err
		}
	}
}
