package shim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/logging"
)

// A shim lives as long as its container, and most of what it allocated to
// get there (flag parsing, the runtime's invocation, JSON type caches, the
// garbage of all that spread over the heap's size classes) stays resident
// for that whole time: about twice the memory of an idle Go program of its
// size. Once the container runs and nobody is attached, the shim therefore
// re-executes itself: same pid, so it stays the subreaper and the parent
// of the container's init, with the control socket, the output pipes and
// the stdin pipe handed over as open descriptors and the rest of its state
// in a memfd. The fresh image allocates only what supervising needs.
//
// Waiters (berthd's monitor) lose their connection in the hand-over and
// dial again (Client.Wait); connections arriving meanwhile wait in the
// socket's backlog. A shim with an attached client or a running exec
// does not hand over (it tries again later).

// resumeEnv names the descriptor of the hand-over state in the new image.
const resumeEnv = "BERTH_SHIM_RESUME_FD"

// defaultRebirthAfter is how long after the start the hand-over happens.
const defaultRebirthAfter = 200 * time.Millisecond

// resumeState is what the new image gets besides the command line.
type resumeState struct {
	Options     Options     `json:"options"`
	LogFD       int         `json:"logFD"` // the shim's own log; -1: none
	Debug       bool        `json:"debug,omitempty"`
	Pid         int         `json:"pid"`
	StartedAt   time.Time   `json:"startedAt"`
	OOMFile     string      `json:"oomFile,omitempty"`
	OOMBase     uint64      `json:"oomBase,omitempty"`
	Listener    int         `json:"listener"`
	Outputs     []int       `json:"outputs"` // the open output streams (the terminal's is Master)
	Streams     []byte      `json:"streams"` // their stream ids
	Pending     [][]byte    `json:"pending"` // their incomplete lines
	Stdin       int         `json:"stdin"`   // -1: none
	StdinClosed bool        `json:"stdinClosed,omitempty"`
	Master      int         `json:"master"` // -1: no terminal
	Execs       []endedExec `json:"execs,omitempty"`
	LogErrs     int64       `json:"logErrs,omitempty"`
}

// endedExec keeps an exec's exit code across the hand-over.
type endedExec struct {
	ID       string `json:"id"`
	Pid      int    `json:"pid"`
	ExitCode int    `json:"exitCode"`
}

var errRebirthVeto = errors.New("busy")

// settle runs once the container has started: it hands over to a fresh
// image, or, while that is not possible, trims memory and tries again later.
func (s *shim) settle(after time.Duration) {
	if after < 0 {
		return
	}
	time.AfterFunc(after, func() {
		err := s.rebirth()
		if err == nil {
			return // not reached: the process image is gone
		}
		if !errors.Is(err, errRebirthVeto) {
			s.log.Warn("re-executing the shim failed", "err", err)
			trim(true)
			return
		}
		if s.stopped() {
			return
		}
		trim(true)
		next := 2 * after
		if next < 5*time.Second {
			next = 5 * time.Second
		}
		if next > 5*time.Minute {
			next = 5 * time.Minute
		}
		s.settle(next)
	})
}

// idleExecutable is what a hand-over executes: this executable, or, for
// berth-shim-rt (which links the runtime, and cgo with it, for the start),
// the plain berth-shim next to it, whose idle process is smaller.
func idleExecutable() string {
	if InProcess != nil {
		if self, err := os.Executable(); err == nil {
			plain := filepath.Join(filepath.Dir(self), "berth-shim")
			if unix.Access(plain, unix.X_OK) == nil {
				return plain
			}
		}
	}
	return "/proc/self/exe"
}

// rebirth hands the shim over to a fresh image of itself; it returns only
// if that did not happen (errRebirthVeto when something was in progress),
// leaving the shim as it was.
func (s *shim) rebirth() error {
	if !s.quiet() {
		return errRebirthVeto
	}
	select {
	case <-s.acceptParked: // stale, from an attempt called off
	default:
	}
	// No new connections: they queue in the backlog for the new image.
	s.acceptPaused.Store(true)
	s.listener.SetDeadline(time.Unix(1, 0))
	resumeAccept := func() {
		s.acceptPaused.Store(false)
		s.listener.SetDeadline(time.Time{})
		select {
		case s.acceptResume <- struct{}{}:
		default:
		}
	}
	select {
	case <-s.acceptParked:
	case <-time.After(500 * time.Millisecond):
		resumeAccept()
		return errRebirthVeto
	}
	// Requests being answered finish first.
	for i := 0; s.active.Load() > 0 || !s.quiet(); i++ {
		if i == 500 || !s.quiet() {
			resumeAccept()
			return errRebirthVeto
		}
		time.Sleep(time.Millisecond)
	}
	// Nothing may be reaped from here: the new image needs the init's
	// exit, if it comes now, still waiting in the kernel.
	s.reaper.freeze()
	undo := func() {
		s.resumePumps()
		s.reaper.thaw()
		resumeAccept()
	}
	if !s.reaper.waiting(s.pid) {
		undo() // it has just exited
		return errRebirthVeto
	}
	// The pumps stop reading, handing back any incomplete line.
	pending, live, ok := s.pausePumps()
	if !ok {
		undo()
		return errRebirthVeto
	}
	st, fds, err := s.resumeState(pending, live)
	if err != nil {
		undo()
		return err
	}
	mfd, err := writeMemfd(st)
	if err != nil {
		undo()
		return err
	}
	for _, fd := range fds {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0); err != nil {
			undo()
			unix.Close(mfd)
			return fmt.Errorf("hand over descriptor %d: %w", fd, err)
		}
	}
	env := append(os.Environ(), resumeEnv+"="+strconv.Itoa(mfd))
	s.log.Info("handing over to a fresh image", "pid", s.pid)
	// The new image reads its options from the hand-over; the command
	// line is for ps (a spare's named no container).
	exe := idleExecutable()
	argv0 := os.Args[0]
	if exe != "/proc/self/exe" {
		argv0 = exe
	}
	argv := []string{argv0, "--id", s.opts.ID, "--state-dir", s.opts.StateDir}
	err = syscall.Exec(exe, argv, env)
	// Still here: keep going as before.
	for _, fd := range fds {
		unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC)
	}
	unix.Close(mfd)
	undo()
	return fmt.Errorf("exec: %w", err)
}

// quiet reports whether the shim holds nothing a hand-over would lose: a
// running container, no client attached, no exec running.
func (s *shim) quiet() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status != StatusRunning || s.pending || s.starting || s.listener == nil {
		return false
	}
	for _, p := range s.execs {
		if p.running || p.master != nil {
			return false
		}
	}
	return s.hub.idle()
}

// resumeState collects the state and the descriptors to hand over.
func (s *shim) resumeState(pending [][]byte, live []bool) (*resumeState, []int, error) {
	st := &resumeState{Options: s.opts, LogFD: -1, Debug: s.opts.debug, Stdin: -1, Master: -1, LogErrs: s.logErrs.Load()}
	var fds []int
	fdOf := func(sc syscall.Conn) (int, error) {
		rc, err := sc.SyscallConn()
		if err != nil {
			return -1, err
		}
		fd := -1
		if err := rc.Control(func(u uintptr) { fd = int(u) }); err != nil {
			return -1, err
		}
		fds = append(fds, fd)
		return fd, nil
	}
	var err error
	if f := s.opts.logFile; f != nil {
		if st.LogFD, err = fdOf(f); err != nil {
			return nil, nil, err
		}
	}
	if st.Listener, err = fdOf(s.listener); err != nil {
		return nil, nil, err
	}
	for i, p := range s.pumps {
		if !live[i] {
			continue // that stream has ended
		}
		fd := -1
		if p.f == s.master {
			if st.Master, err = fdOf(p.f); err != nil {
				return nil, nil, err
			}
			fd = st.Master
		} else if fd, err = fdOf(p.f); err != nil {
			return nil, nil, err
		}
		st.Outputs = append(st.Outputs, fd)
		st.Streams = append(st.Streams, p.stream)
		st.Pending = append(st.Pending, pending[i])
	}
	if s.master != nil && st.Master < 0 {
		if st.Master, err = fdOf(s.master); err != nil {
			return nil, nil, err
		}
	}
	if w := s.stdin; w != nil {
		w.mu.Lock()
		f, closed := w.f, w.closed.Load()
		w.mu.Unlock()
		switch {
		case closed:
			st.StdinClosed = true
		case f != nil && f != s.master:
			if st.Stdin, err = fdOf(f); err != nil {
				return nil, nil, err
			}
		}
	}
	s.mu.Lock()
	st.Pid, st.StartedAt = s.pid, s.startedAt
	for id, p := range s.execs {
		st.Execs = append(st.Execs, endedExec{ID: id, Pid: p.pid, ExitCode: p.exitCode})
	}
	s.mu.Unlock()
	if o := s.oom; o != nil {
		st.OOMFile, st.OOMBase = o.file, o.base
	}
	return st, fds, nil
}

func writeMemfd(st *resumeState) (int, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return -1, err
	}
	fd, err := unix.MemfdCreate("berth-shim-state", 0) // no CLOEXEC: it is for the new image
	if err != nil {
		return -1, fmt.Errorf("memfd: %w", err)
	}
	for off := 0; off < len(b); {
		n, err := unix.Pwrite(fd, b[off:], int64(off))
		if err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("memfd: %w", err)
		}
		off += n
	}
	return fd, nil
}

// readResumeState reads (and closes) the hand-over state named by the
// environment, if any.
func readResumeState() (*resumeState, error) {
	v := os.Getenv(resumeEnv)
	if v == "" {
		return nil, nil
	}
	os.Unsetenv(resumeEnv)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 0 {
		return nil, fmt.Errorf("bad %s %q", resumeEnv, v)
	}
	f := os.NewFile(uintptr(fd), "resume-state")
	defer f.Close()
	var st resumeState
	if err := json.NewDecoder(f).Decode(&st); err != nil {
		return nil, fmt.Errorf("read the hand-over state: %w", err)
	}
	return &st, nil
}

// resume is Run for a shim handed over to this image: it supervises the
// running container it was given.
func resume(opts Options, st *resumeState) error {
	s, err := newShim(opts)
	if err != nil {
		return err
	}
	inherit := func(fd int) {
		unix.CloseOnExec(fd)
	}
	inherit(st.Listener)
	lf := os.NewFile(uintptr(st.Listener), "listener")
	ln, err := net.FileListener(lf)
	lf.Close()
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	ul, ok := ln.(*net.UnixListener)
	if !ok {
		ln.Close()
		return errors.New("control socket: not a unix socket")
	}
	ul.SetUnlinkOnClose(false)
	o := s.opts
	if o.LogPath != "" {
		if o.LogFormat == "cri" {
			s.sink, err = logging.NewCRIFile(o.LogPath)
		} else {
			s.sink, err = logging.NewJSONFile(o.LogPath, o.LogMaxSize, o.LogMaxFiles)
		}
		if err != nil {
			// Output is still read (and attachable); records fail and count.
			s.log.Error("reopen the container log", "err", err)
			s.sink = nil
		}
	}
	s.logErrs.Store(st.LogErrs)
	if st.Master >= 0 {
		inherit(st.Master)
		s.master = os.NewFile(uintptr(st.Master), "pty-master")
	}
	for _, fd := range st.Outputs {
		if fd == st.Master {
			s.outputs = append(s.outputs, s.master)
			continue
		}
		inherit(fd)
		s.outputs = append(s.outputs, os.NewFile(uintptr(fd), "output"))
	}
	if s.stdin != nil {
		switch {
		case st.StdinClosed:
			s.stdin.Close()
		case st.Stdin >= 0:
			inherit(st.Stdin)
			s.stdin.bind(os.NewFile(uintptr(st.Stdin), "stdin"), true)
		case s.master != nil:
			s.stdin.bind(s.master, false)
		}
	}
	s.status, s.pid, s.startedAt = StatusRunning, st.Pid, st.StartedAt
	for _, e := range st.Execs {
		s.execs[e.ID] = &execProc{pid: e.Pid, exitCode: e.ExitCode}
		s.execsEnded = append(s.execsEnded, e.ID)
	}
	if st.OOMFile != "" {
		s.oom = &oomCounter{file: st.OOMFile, base: st.OOMBase}
	}
	initExit := s.reaper.watch(s.pid)
	s.startPumps(st.Streams, st.Pending)
	s.serveOn(ul)
	s.log.Info("resumed in a fresh image", "pid", s.pid)
	go s.supervise(initExit)
	// The file pages start-up touched go; the heap is fresh already.
	time.AfterFunc(defaultRebirthAfter, func() { trim(false) })
	<-s.quit
	s.removeSocket()
	s.log.Info("shim exiting")
	return nil
}
