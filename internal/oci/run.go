//go:build !berthinit

package oci

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// Run is create + start; unless detach, it waits for the container, passes
// signals on, deletes it and returns its exit status.
func (s Store) Run(o *CreateOpts, detach bool) (int, error) {
	var tty *ttyProxy
	if !detach && o.ConsoleSocket == "" {
		// Create asks for the proxy only if the spec wants a terminal.
		o.wantTTY = func() (*os.File, error) {
			var err error
			if tty, err = newTTYProxy(); err != nil {
				return nil, err
			}
			return tty.remote, nil
		}
		defer func() {
			if tty != nil {
				tty.close()
			}
		}()
	}
	c, err := s.Create(o)
	if err != nil {
		return -1, err
	}
	h := &Handle{Store: s, Record: c.Record, Spec: c.Spec, cg: c.cg}
	if tty != nil {
		if err := tty.attach(); err != nil {
			h.Delete(true)
			return -1, err
		}
	}
	if err := h.Start(); err != nil {
		h.Delete(true)
		return -1, err
	}
	if detach {
		return 0, nil
	}
	// Subscribed once started: registering signals costs a thread hand-off
	// each, which would compete with the container's start for the CPU.
	sigc := notifyAll(detach)
	defer signal.Stop(sigc)
	code := waitForwarding(c.Proc, sigc, tty)
	if tty != nil {
		tty.drain()
	}
	if err := h.Delete(true); err != nil {
		return code, err
	}
	return code, nil
}

// ExecWait runs a process in the container; unless detach, it waits for
// it and returns its exit status.
func (h *Handle) ExecWait(o *ExecOpts, detach bool) (int, error) {
	var tty *ttyProxy
	if !detach && o.ConsoleSocket == "" && o.Process.Terminal {
		var err error
		if tty, err = newTTYProxy(); err != nil {
			return -1, err
		}
		defer tty.close()
		o.consoleConn = tty.remote
	}
	cmd, err := h.Exec(o)
	if err != nil {
		return -1, err
	}
	sigc := notifyAll(detach)
	defer signal.Stop(sigc)
	if tty != nil {
		if err := tty.attach(); err != nil {
			cmd.Kill()
			cmd.Wait()
			return -1, err
		}
	}
	if detach {
		return 0, nil
	}
	code := waitForwarding(cmd, sigc, tty)
	if tty != nil {
		tty.drain()
	}
	return code, nil
}

// forwarded are the signals a foreground run or exec passes on: every
// standard signal one can send, except those that are the runtime's own
// (SIGCHLD, SIGURG for Go's preemption, SIGPIPE, SIGPROF). Real-time
// signals are left out: subscribing costs a hand-off to the runtime's
// signal thread per signal, and nobody sends those to a runtime.
var forwarded = func() []os.Signal {
	var out []os.Signal
	for s := unix.Signal(1); s < 32; s++ {
		switch s {
		case unix.SIGKILL, unix.SIGSTOP, unix.SIGCHLD, unix.SIGURG, unix.SIGPIPE, unix.SIGPROF:
			continue
		}
		out = append(out, s)
	}
	return out
}()

// notifyAll subscribes to the forwarded signals in the background, while
// the container starts and runs: nothing waits for it, since a signal
// cannot be forwarded before the subscription anyway.
func notifyAll(detach bool) chan os.Signal {
	sigc := make(chan os.Signal, 64)
	if !detach {
		go signal.Notify(sigc, forwarded...)
	}
	return sigc
}

// waitForwarding waits for the child, sending it every signal we get
// (SIGWINCH becomes a resize when we proxy a terminal).
func waitForwarding(p *Proc, sigc chan os.Signal, tty *ttyProxy) int {
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case sig := <-sigc:
				s := sig.(syscall.Signal)
				switch {
				case s == unix.SIGWINCH && tty != nil:
					tty.resize()
				default:
					unix.Kill(p.Pid, s)
				}
			}
		}
	}()
	code := p.ExitCode()
	close(done)
	return code
}

// ttyProxy plays the console-socket listener for run/exec in the
// foreground: it receives the pty master and copies it to our stdio.
type ttyProxy struct {
	local, remote *os.File
	master        *os.File
	oldState      *term.State
	copied        chan struct{}
}

func newTTYProxy() (*ttyProxy, error) {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return &ttyProxy{
		local:  os.NewFile(uintptr(pair[0]), "console-local"),
		remote: os.NewFile(uintptr(pair[1]), "console-remote"),
		copied: make(chan struct{}),
	}, nil
}

func (t *ttyProxy) attach() error {
	t.remote.Close()
	master, err := RecvFD(t.local)
	if err != nil {
		return fmt.Errorf("receive pty master: %w", err)
	}
	t.master = master
	if term.IsTerminal(int(os.Stdin.Fd())) {
		if st, err := term.MakeRaw(int(os.Stdin.Fd())); err == nil {
			t.oldState = st
		}
		t.resize()
	}
	go io.Copy(master, os.Stdin)
	go func() {
		io.Copy(os.Stdout, master)
		close(t.copied)
	}()
	return nil
}

func (t *ttyProxy) resize() {
	if t.master == nil {
		return
	}
	if ws, err := unix.IoctlGetWinsize(int(os.Stdin.Fd()), unix.TIOCGWINSZ); err == nil {
		unix.IoctlSetWinsize(int(t.master.Fd()), unix.TIOCSWINSZ, ws)
	}
}

// drain waits for the output still buffered in the pty after the process exited.
func (t *ttyProxy) drain() {
	if t.master != nil {
		<-t.copied
	}
}

func (t *ttyProxy) close() {
	if t.oldState != nil {
		term.Restore(int(os.Stdin.Fd()), t.oldState)
	}
	t.local.Close()
	t.remote.Close()
	if t.master != nil {
		t.master.Close()
	}
}

// RecvFD reads one fd sent with SCM_RIGHTS (what --console-socket listeners do).
func RecvFD(sock *os.File) (*os.File, error) {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, err
	}
	if len(msgs) != 1 {
		return nil, errors.New("no fd received")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, errors.New("no fd received")
	}
	return os.NewFile(uintptr(fds[0]), string(buf[:n])), nil
}
