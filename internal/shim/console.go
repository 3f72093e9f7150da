package shim

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// consoleSocket receives the pty master a runtime sends to --console-socket.
type consoleSocket struct {
	path    string
	name    string // what the runtime is told to connect to
	l       *net.UnixListener
	release func()
	got     chan consoleResult
}

type consoleResult struct {
	master *os.File
	err    error
}

func newConsoleSocket(path string) (*consoleSocket, error) {
	l, err := listenUnix(path)
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	name, release, err := sockPath(path, true)
	if err != nil {
		l.Close()
		os.Remove(path)
		return nil, err
	}
	c := &consoleSocket{path: path, name: name, l: l, release: release, got: make(chan consoleResult, 1)}
	go func() {
		m, err := c.accept()
		c.got <- consoleResult{m, err}
	}()
	return c, nil
}

func (c *consoleSocket) accept() (*os.File, error) {
	conn, err := c.l.AcceptUnix()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(runtimeTimeout))
	buf := make([]byte, 256)
	oob := make([]byte, unix.CmsgSpace(4*4))
	_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, fmt.Errorf("receive pty master: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, fmt.Errorf("receive pty master: %w", err)
	}
	var fds []int
	for _, m := range msgs {
		if f, err := unix.ParseUnixRights(&m); err == nil {
			fds = append(fds, f...)
		}
	}
	if len(fds) == 0 {
		return nil, errors.New("receive pty master: no descriptor in the message")
	}
	for _, fd := range fds[1:] {
		unix.Close(fd)
	}
	return pollable(fds[0], "pty-master")
}

// master returns the received pty master, waiting at most d for it (the
// runtime has exited by then, so it was sent or never will be).
func (c *consoleSocket) master(d time.Duration) (*os.File, error) {
	select {
	case r := <-c.got:
		return r.master, r.err
	case <-time.After(d):
		return nil, errors.New("the runtime sent no pty master to the console socket")
	}
}

func (c *consoleSocket) close() {
	c.l.Close()
	c.release()
	os.Remove(c.path)
	// Drop a master that arrived after we stopped waiting.
	go func() {
		if r := <-c.got; r.master != nil {
			r.master.Close()
		}
	}()
}

// pollable wraps fd as a non-blocking, close-on-exec file, so that reads
// can be interrupted by deadlines and Close.
func pollable(fd int, name string) (*os.File, error) {
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}

// setWinsize resizes the terminal whose master is f (without f.Fd(), which
// would switch f back to blocking mode).
func setWinsize(f *os.File, width, height int) error {
	if width <= 0 || height <= 0 || width > 0xffff || height > 0xffff {
		return fmt.Errorf("bad terminal size %dx%d", width, height)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ioErr error
	err = rc.Control(func(fd uintptr) {
		ioErr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: uint16(height), Col: uint16(width)})
	})
	if err != nil {
		return err
	}
	return ioErr
}
