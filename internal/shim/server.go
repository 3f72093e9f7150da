package shim

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/logging"
)

const (
	// drainTimeout bounds how long output is read after a process exits:
	// something outside its pid namespace may hold the pipe open.
	drainTimeout = 2 * time.Second
	// defaultLinger keeps the socket answering after the exit, for
	// late wait and state calls.
	defaultLinger = 2 * time.Second
	// deleteDelay is how long the runtime's delete of an exited container
	// waits for a shutdown request, which starts it at once.
	deleteDelay = 100 * time.Millisecond
	// maxRequest bounds a request line (an exec's process JSON).
	maxRequest = 4 << 20
)

// Options configure one shim; cmd/berth-shim fills them from its flags.
type Options struct {
	ID          string
	Bundle      string
	Runtime     string // path of a runc-compatible runtime
	RuntimeRoot string
	StateDir    string
	// LogPath is the container's log ("" for none), in LogFormat:
	// "json-file" (the default) rotated by LogMaxSize and LogMaxFiles, or
	// "cri".
	LogPath     string
	LogFormat   string
	LogMaxSize  int64
	LogMaxFiles int
	TTY         bool
	Stdin       bool
	Logger      *slog.Logger `json:"-"`
	// Ready, if set, gets one byte and is closed once the socket answers.
	Ready *os.File `json:"-"`
	// Linger is how long the shim stays after the exit (default 2 s).
	Linger time.Duration
	// RebirthAfter is how long after the start the shim hands over to a
	// fresh image of itself (see rebirth.go): 0 for the default, negative
	// for never.
	RebirthAfter time.Duration
	// RunOnStart defers the runtime to the start op, which then creates
	// and starts the container in one invocation (`run --detach`): one
	// runtime process less per container, for callers that start right
	// after launching. Clients may attach before the start, since the
	// shim answers at once.
	RunOnStart bool
	// Spare starts a shim for a container to come: it serves the
	// socket in StateDir and takes the container's options from the
	// assign op (see Spares). ID, Bundle and Runtime come with them.
	Spare bool `json:"-"`

	// The shim's own log, which a hand-over passes on (Main sets them).
	logFile *os.File
	debug   bool
}

type logSink interface {
	logging.Writer
	Close() error
}

// stdinWriter is the container's stdin as clients write it: a pipe, or the
// pty master. It exists before the container does (a client may attach
// before the start); writes wait until the file is bound. Close stops
// forwarding (and closes a pipe).
type stdinWriter struct {
	mu        sync.Mutex
	f         *os.File
	closeFile bool
	ready     chan struct{}
	closed    atomic.Bool
}

func newStdinWriter() *stdinWriter { return &stdinWriter{ready: make(chan struct{})} }

// bind gives the writer its file, once.
func (w *stdinWriter) bind(f *os.File, closeFile bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed.Load() {
		if closeFile {
			f.Close()
		}
		return
	}
	if w.f != nil {
		return
	}
	w.f, w.closeFile = f, closeFile
	close(w.ready)
}

func (w *stdinWriter) Write(p []byte) (int, error) {
	<-w.ready
	if w.closed.Load() {
		return 0, os.ErrClosed
	}
	return w.f.Write(p)
}

func (w *stdinWriter) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed.CompareAndSwap(false, true) {
		return
	}
	if w.f == nil {
		close(w.ready)
		return
	}
	if w.closeFile {
		w.f.Close()
	}
}

type shim struct {
	opts   Options
	log    *slog.Logger
	rt     *ociRuntime
	reaper *reaper
	sink   logSink
	hub    *hub
	stdin  *stdinWriter
	master *os.File

	outputs   []*os.File
	outputsWG sync.WaitGroup
	pumps     []*pumpState
	draining  atomic.Bool // the outputs' read deadline is the drain's
	logErrs   atomic.Int64

	// The control socket, and what a hand-over to a fresh image uses to
	// quiesce it: paused accepting, and requests being answered.
	listener     *net.UnixListener
	acceptPaused atomic.Bool
	acceptResume chan struct{}
	acceptParked chan struct{}
	active       atomic.Int64

	mu         sync.Mutex
	status     string
	starting   bool
	pid        int
	startedAt  time.Time
	exit       ExitStatus
	execs      map[string]*execProc
	execSeq    int
	execsEnded []string

	// pending: RunOnStart and the start op has not run the container.
	pending bool
	// spare: waiting for the assign op; nothing else is answered.
	spare bool
	oom   *oomCounter

	exited     chan struct{} // the exit is recorded and the output flushed
	deleteNow  chan struct{} // someone waits for the runtime's delete
	deleteOnce sync.Once
	deleted    chan struct{} // and the runtime has deleted the container
	quit       chan struct{}
	quitOnce   sync.Once
}

// Run is berth-shim: it creates the container, serves the control socket,
// and returns after the container has exited and been deleted (or the
// create failed, which it then records in STATE/create-error).
func Run(opts Options) error {
	s, err := newShim(opts)
	if err != nil {
		return err
	}
	opts = s.opts
	if opts.Spare {
		s.pending, s.spare = true, true
		if err := s.listen(); err != nil {
			return err
		}
		if InProcess != nil {
			// At the spare's idle priority: its first container's
			// create then skips that work.
			go func() {
				InProcess.Warm()
				InProcess.Prefork()
			}()
		}
		<-s.quit
		if InProcess != nil {
			InProcess.DropSpare(true)
		}
		s.removeSocket()
		s.log.Info("shim exiting")
		return nil
	}
	if err := os.MkdirAll(opts.StateDir, 0o700); err != nil {
		return err
	}
	for _, name := range []string{SocketName, ExitFileName, CreateErrorName, PidFileName, ShimPidFileName, consoleName} {
		os.Remove(filepath.Join(opts.StateDir, name))
	}
	if opts.RunOnStart {
		s.pending = true
		if err := s.listen(); err != nil {
			return err
		}
		<-s.quit
		s.removeSocket()
		s.log.Info("shim exiting")
		return nil
	}
	initExit, err := s.create(false)
	if err == nil {
		err = s.listen()
	}
	if err != nil {
		s.createFailed(err)
		return err
	}
	s.log.Info("container created", "pid", s.pid)
	go s.supervise(initExit)
	<-s.quit
	s.removeSocket()
	s.log.Info("shim exiting")
	return nil
}

// newShim checks the options and sets up what every shim needs: being
// the subreaper of the container's processes, and their reaper.
func newShim(opts Options) (*shim, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Linger <= 0 {
		opts.Linger = defaultLinger
	}
	if err := checkOptions(&opts); err != nil {
		return nil, err
	}
	s := &shim{
		opts:         opts,
		log:          opts.Logger.With("id", opts.ID),
		hub:          newHub(opts.TTY),
		status:       StatusCreated,
		execs:        map[string]*execProc{},
		exited:       make(chan struct{}),
		deleteNow:    make(chan struct{}),
		deleted:      make(chan struct{}),
		quit:         make(chan struct{}),
		acceptResume: make(chan struct{}, 1),
		acceptParked: make(chan struct{}, 1),
	}
	if opts.Stdin {
		s.stdin = newStdinWriter()
	}
	// Orphans of the runtime (the container's init, exec'd processes) are
	// reparented to us, so that we can reap them and read their status.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return nil, fmt.Errorf("set child subreaper: %w", err)
	}
	signal.Ignore(unix.SIGHUP, unix.SIGPIPE)
	s.reaper = newReaper()
	s.rt = &ociRuntime{path: opts.Runtime, root: opts.RuntimeRoot, stateDir: opts.StateDir, reaper: s.reaper}
	return s, nil
}

// checkOptions checks and completes the options (a spare's wait for the
// assign op).
func checkOptions(opts *Options) error {
	if opts.Spare && opts.StateDir != "" {
		return nil
	}
	if opts.ID == "" || opts.Bundle == "" || opts.Runtime == "" || opts.StateDir == "" {
		return errdefs.InvalidArgument("shim: --id, --bundle, --runtime and --state-dir are required")
	}
	if opts.Bundle, _ = filepath.Abs(opts.Bundle); opts.RuntimeRoot == "" {
		opts.RuntimeRoot = "/run/berth-oci"
	}
	return nil
}

// assign makes a spare the shim of the container o describes; the caller
// has moved the spare's state directory to o.StateDir.
func (s *shim) assign(o *Options) error {
	if o == nil {
		return errdefs.InvalidArgument("assign: no options")
	}
	n := *o
	n.Spare, n.RunOnStart = false, true
	if err := checkOptions(&n); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.spare {
		return errdefs.Conflict("assign: the shim is not a spare")
	}
	n.Logger, n.Linger, n.logFile, n.debug = s.opts.Logger, s.opts.Linger, s.opts.logFile, s.opts.debug
	s.opts = n
	s.log = n.Logger.With("id", n.ID)
	s.hub = newHub(n.TTY)
	if n.Stdin {
		s.stdin = newStdinWriter()
	}
	s.rt = &ociRuntime{path: n.Runtime, root: n.RuntimeRoot, stateDir: n.StateDir, reaper: s.reaper}
	s.spare = false
	s.log.Info("spare assigned")
	return nil
}

func (s *shim) removeSocket() {
	os.Remove(filepath.Join(s.opts.StateDir, SocketName))
}

// createFailed cleans up after a failed create and records why, for
// whoever launched the shim.
func (s *shim) createFailed(err error) {
	s.rt.delete(s.opts.ID, true)
	msg := err.Error()
	var re *runtimeError
	if errors.As(err, &re) {
		msg = re.msg
	}
	if werr := writeFileAtomic(filepath.Join(s.opts.StateDir, CreateErrorName), []byte(msg+"\n")); werr != nil {
		s.log.Error("record create error", "err", werr)
	}
	if s.sink != nil {
		s.sink.Close()
	}
}

// create runs the runtime's create (or, if run, its run --detach) with
// the container's stdio.
func (s *shim) create(run bool) (<-chan exit, error) {
	o := s.opts
	if o.LogPath != "" {
		var err error
		if o.LogFormat == "cri" {
			s.sink, err = logging.NewCRIFile(o.LogPath)
		} else if o.LogFormat == "" || o.LogFormat == "json-file" {
			s.sink, err = logging.NewJSONFile(o.LogPath, o.LogMaxSize, o.LogMaxFiles)
		} else {
			err = errdefs.InvalidArgument("unknown log format %q", o.LogFormat)
		}
		if err != nil {
			return nil, err
		}
	}
	pidFile := filepath.Join(o.StateDir, PidFileName)
	var ours, theirs []*os.File
	closeAll := func(fs []*os.File) {
		for _, f := range fs {
			if f != nil {
				f.Close()
			}
		}
	}
	var err error
	if o.TTY {
		cs, cerr := newConsoleSocket(filepath.Join(o.StateDir, consoleName))
		if cerr != nil {
			return nil, cerr
		}
		defer cs.close()
		// The runtime's own stdio is /dev/null: the container gets the pty.
		err = s.rt.create(run, o.ID, o.Bundle, pidFile, cs.name, []*os.File{nil, nil, nil})
		if err == nil {
			if s.master, err = cs.master(5 * time.Second); err == nil {
				ours = append(ours, s.master)
				s.outputs = []*os.File{s.master}
				if s.stdin != nil {
					s.stdin.bind(s.master, false)
				}
			}
		}
	} else {
		outR, outW, perr := os.Pipe()
		if perr != nil {
			return nil, perr
		}
		errR, errW, perr := os.Pipe()
		if perr != nil {
			closeAll([]*os.File{outR, outW})
			return nil, perr
		}
		ours, theirs = []*os.File{outR, errR}, []*os.File{nil, outW, errW}
		if o.Stdin {
			inR, inW, perr := os.Pipe()
			if perr != nil {
				closeAll(append(ours, theirs...))
				return nil, perr
			}
			theirs[0] = inR
			ours = append(ours, inW)
			if s.stdin != nil {
				s.stdin.bind(inW, true)
			}
		}
		err = s.rt.create(run, o.ID, o.Bundle, pidFile, "", theirs)
		closeAll(theirs)
		s.outputs = []*os.File{outR, errR}
	}
	if err == nil {
		s.pid, err = readPid(pidFile)
	}
	if err != nil {
		if s.stdin != nil {
			s.stdin.Close()
		}
		closeAll(ours)
		return nil, err
	}
	initExit := s.reaper.watch(s.pid)
	s.oom = newOOMCounter(s.pid)
	if ppid := parentOf(s.pid); ppid != os.Getpid() && ppid > 0 {
		s.log.Warn("the container's init is not our child: its exit will not be seen", "pid", s.pid, "ppid", ppid)
	}
	streams := []byte{StreamStdout, StreamStderr}
	s.startPumps(streams[:len(s.outputs)], nil)
	return initExit, nil
}

// parentOf returns pid's parent from /proc, or 0.
func parentOf(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may hold spaces and parentheses: parse after the last ')'.
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == ')' {
			var state byte
			var ppid int
			fmt.Sscanf(string(b[i+1:]), " %c %d", &state, &ppid)
			return ppid
		}
	}
	return 0
}

// pumpState is one output stream being copied.
type pumpState struct {
	f      *os.File
	stream byte
	lw     *logging.LineSplitter
	done   chan struct{} // closed when the stream has ended
	// A hand-over pauses the pump: set up by pausePumps before pause is
	// set, paused gets its incomplete line, then it waits for resume
	// (closed if the hand-over fails).
	pause  atomic.Bool
	paused chan []byte
	resume chan struct{}
}

// startPumps copies the outputs to the log and the attached clients;
// streams names each (StreamStdout, StreamStderr), pending holds the
// incomplete lines a previous image had read.
func (s *shim) startPumps(streams []byte, pending [][]byte) {
	for i, f := range s.outputs {
		p := &pumpState{f: f, stream: streams[i], done: make(chan struct{})}
		if s.sink != nil {
			name := logging.Stdout
			if p.stream == StreamStderr {
				name = logging.Stderr
			}
			p.lw = logging.LineWriter(s.sink, name)
			if i < len(pending) {
				p.lw.Restore(pending[i])
			}
		}
		s.pumps = append(s.pumps, p)
		s.outputsWG.Add(1)
		go s.pump(p)
	}
	go func() {
		// Attach streams end when the output does.
		s.outputsWG.Wait()
		s.hub.close()
	}()
}

// pump copies one output stream to the log and the attached clients.
func (s *shim) pump(p *pumpState) {
	defer s.outputsWG.Done()
	defer close(p.done)
	buf := make([]byte, 16<<10)
	for {
		n, err := p.f.Read(buf)
		if n > 0 {
			if p.lw != nil {
				if _, werr := p.lw.Write(buf[:n]); werr != nil {
					s.logWriteError(werr)
				}
			}
			s.hub.broadcast(p.stream, buf[:n])
		}
		if err != nil && errors.Is(err, os.ErrDeadlineExceeded) && !s.draining.Load() {
			// A hand-over's pause (or one just called off).
			if p.pause.Load() {
				var rest []byte
				if p.lw != nil {
					rest = p.lw.Pending()
				}
				p.paused <- rest
				<-p.resume
			}
			continue
		}
		if err != nil {
			// io.EOF, EIO once a pty's last user is gone, or the drain deadline.
			break
		}
	}
	if p.lw != nil {
		if err := p.lw.Close(); err != nil {
			s.logWriteError(err)
		}
	}
}

// pausePumps stops the pumps between two reads. It returns, per pump,
// its incomplete line and whether its stream is still open; false if one
// did not pause in time.
func (s *shim) pausePumps() (pending [][]byte, live []bool, ok bool) {
	pending, live = make([][]byte, len(s.pumps)), make([]bool, len(s.pumps))
	for _, p := range s.pumps {
		p.paused, p.resume = make(chan []byte, 1), make(chan struct{})
		p.pause.Store(true)
		select {
		case <-p.done:
			continue
		default:
		}
		if p.f.SetReadDeadline(time.Unix(1, 0)) != nil {
			return nil, nil, false
		}
	}
	timeout := time.After(500 * time.Millisecond)
	for i, p := range s.pumps {
		select {
		case pending[i] = <-p.paused:
			live[i] = true
		case <-p.done:
		case <-timeout:
			return nil, nil, false
		}
	}
	return pending, live, true
}

// resumePumps undoes pausePumps.
func (s *shim) resumePumps() {
	for _, p := range s.pumps {
		if !p.pause.Swap(false) {
			continue
		}
		p.f.SetReadDeadline(time.Time{})
		close(p.resume)
	}
}

func (s *shim) logWriteError(err error) {
	if n := s.logErrs.Add(1); n == 1 || n%1000 == 0 {
		s.log.Error("write container log", "err", err, "failures", n)
	}
}

func (s *shim) listen() error {
	l, err := listenUnix(filepath.Join(s.opts.StateDir, SocketName))
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	s.serveOn(l)
	// Which process serves this directory, for people and tests: a
	// spare's command line names no container.
	writeFileAtomic(filepath.Join(s.opts.StateDir, ShimPidFileName), []byte(strconv.Itoa(os.Getpid())+"\n"))
	if r := s.opts.Ready; r != nil {
		r.Write([]byte{'R'})
		r.Close()
	}
	return nil
}

// supervise waits for the container's init to exit, then records the
// status, flushes the output, deletes the runtime's state and, after the
// linger, ends the shim.
func (s *shim) supervise(initExit <-chan exit) {
	e := <-initExit
	code, sig := e.code()
	st := ExitStatus{ExitCode: code, ExitedAt: e.at.UTC(), Signal: sig, OOMKilled: s.oom.killed()}
	s.mu.Lock()
	s.status, s.exit = StatusStopped, st
	s.mu.Unlock()
	s.log.Info("container exited", "exitCode", code, "signal", sig)
	if err := writeExitFile(s.opts.StateDir, st); err != nil {
		s.log.Error("record exit status", "err", err)
	}
	deadline := time.Now().Add(drainTimeout)
	s.draining.Store(true)
	for _, f := range s.outputs {
		f.SetReadDeadline(deadline)
	}
	s.outputsWG.Wait()
	for _, f := range s.outputs {
		f.Close()
	}
	if s.stdin != nil {
		s.stdin.Close()
	}
	if s.sink != nil {
		if err := s.sink.Close(); err != nil {
			s.log.Error("close container log", "err", err)
		}
	}
	// Waiters learn the exit now; the runtime's delete (a process of its
	// own) follows once shutdown asks for it, or after deleteDelay: not at
	// once, where it would take a CPU from berthd's handling of the exit.
	close(s.exited)
	select {
	case <-s.deleteNow:
	case <-time.After(deleteDelay):
	}
	if err := s.rt.delete(s.opts.ID, false); err != nil {
		s.log.Warn("delete container", "err", err)
		if err := s.rt.delete(s.opts.ID, true); err != nil {
			s.log.Error("delete container", "err", err)
		}
	}
	close(s.deleted)
	time.AfterFunc(s.opts.Linger, s.stop)
}

func (s *shim) stop() { s.quitOnce.Do(func() { close(s.quit) }) }

// serveOn answers the control socket on l until the shim quits.
func (s *shim) serveOn(l *net.UnixListener) {
	s.mu.Lock()
	s.listener = l
	s.mu.Unlock()
	go s.serve(l)
	go func() {
		<-s.quit
		l.Close()
	}()
}

func (s *shim) serve(l *net.UnixListener) {
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if s.acceptPaused.Load() && errors.Is(err, os.ErrDeadlineExceeded) {
				// A hand-over is under way: the new image accepts, or
				// this one again if it fails.
				s.acceptParked <- struct{}{}
				select {
				case <-s.acceptResume:
				case <-s.quit:
					return
				}
				continue
			}
			s.log.Warn("accept", "err", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		s.active.Add(1) // before the goroutine runs: see rebirth
		go s.handle(c)
	}
}

// handle answers one connection. Streaming ops take it over; the others
// answer and close it.
func (s *shim) handle(c *net.UnixConn) {
	// Counted as active (from its accept) while its request is read and
	// answered: a hand-over waits for none to be. A wait waiting is not.
	leave := sync.OnceFunc(func() { s.active.Add(-1) })
	defer leave()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReaderSize(c, 4096)
	line, err := readLine(br, maxRequest)
	if err != nil {
		c.Close()
		return
	}
	c.SetReadDeadline(time.Time{})
	var req request
	if err := json.Unmarshal(line, &req); err != nil {
		reply(c, nil, errdefs.InvalidArgument("bad request: %v", err))
		c.Close()
		return
	}
	s.mu.Lock()
	spare := s.spare
	s.mu.Unlock()
	if spare != (req.Op == opAssign) && req.Op != opShutdown && req.Op != opState {
		if spare {
			reply(c, nil, errdefs.FailedPrecondition("%s: a spare shim has no container yet", req.Op))
		} else {
			reply(c, nil, errdefs.Conflict("assign: the shim is not a spare"))
		}
		c.Close()
		return
	}
	switch req.Op {
	case opAttach:
		s.attach(c, br, req)
		return
	case opExec:
		s.execOp(c, br, req)
		return
	case opWait:
		leave()
		s.wait(c, br)
	case opAssign:
		reply(c, struct{}{}, s.assign(req.Options))
	case opShutdown:
		if err := s.shutdown(); err != nil {
			reply(c, nil, err)
		} else {
			reply(c, struct{}{}, nil)
			s.stop()
		}
	default:
		v, err := s.call(req)
		reply(c, v, err)
	}
	c.Close()
}

// call runs the ops that answer at once.
func (s *shim) call(req request) (any, error) {
	switch req.Op {
	case opState:
		s.mu.Lock()
		defer s.mu.Unlock()
		return State{Status: s.status, Pid: s.pid, ExitCode: s.exit.ExitCode, ExitedAt: s.exit.ExitedAt, StartedAt: s.startedAt}, nil
	case opStart:
		early, err := s.start()
		if err == nil {
			// From here the shim mostly sleeps, as long as its container
			// runs: it sheds its start-up memory (see rebirth.go).
			after := s.opts.RebirthAfter
			if after == 0 {
				after = defaultRebirthAfter
			}
			s.settle(after)
		}
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if early != nil {
			// Exited already: said at once, which spares the caller
			// recording a running state (its output may still be on its
			// way to the log: wait says when it is there).
			code, _ := early.code()
			return State{Status: StatusStopped, Pid: s.pid, ExitCode: code, ExitedAt: early.at.UTC(), StartedAt: s.startedAt}, nil
		}
		return State{Status: s.status, Pid: s.pid, ExitCode: s.exit.ExitCode, ExitedAt: s.exit.ExitedAt, StartedAt: s.startedAt}, nil
	case opKill:
		return struct{}{}, s.kill(req.Signal, req.All)
	case opResize:
		if s.master == nil {
			return nil, errdefs.FailedPrecondition("the container has no terminal")
		}
		if s.stopped() {
			return nil, errdefs.Conflict("container is not running")
		}
		if err := setWinsize(s.master, req.Width, req.Height); err != nil {
			return nil, errdefs.InvalidArgument("resize: %v", err)
		}
		return struct{}{}, nil
	case opCloseStdin:
		if s.stdin != nil {
			s.stdin.Close()
		}
		return struct{}{}, nil
	case opExecState:
		return s.execState(req.ExecID)
	case opExecResize:
		return struct{}{}, s.execResize(req.ExecID, req.Width, req.Height)
	case opReopenLog:
		r, ok := s.sink.(interface{ Reopen() error })
		if !ok {
			return nil, errdefs.FailedPrecondition("the log cannot be reopened")
		}
		return struct{}{}, r.Reopen()
	}
	return nil, errdefs.InvalidArgument("unknown op %q", req.Op)
}

func (s *shim) stopped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status == StatusStopped
}

// start runs the container. It returns the init's exit when that came
// before the runtime was done (a short command).
func (s *shim) start() (*exit, error) {
	s.mu.Lock()
	if s.status != StatusCreated || s.starting {
		st := s.status
		s.mu.Unlock()
		return nil, errdefs.Conflict("container is %s", st)
	}
	s.starting = true
	pending := s.pending
	s.mu.Unlock()
	// Stamped before: the process may exit before start returns.
	at := time.Now().UTC()
	var err error
	var initExit <-chan exit
	if pending {
		if initExit, err = s.create(true); err != nil {
			s.createFailed(err)
			// Nothing is left to supervise: the shim ends after the
			// linger, and the caller has the error.
			s.mu.Lock()
			s.starting = false
			s.status = StatusStopped
			s.mu.Unlock()
			close(s.exited)
			close(s.deleted)
			time.AfterFunc(s.opts.Linger, s.stop)
			return nil, err
		}
		s.log.Info("container started", "pid", s.pid)
	} else {
		err = s.rt.start(s.opts.ID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.starting = false
	var early *exit
	if pending {
		s.pending = false
		select {
		case e := <-initExit:
			early = &e
			again := make(chan exit, 1)
			again <- e
			initExit = again
		default:
		}
		go s.supervise(initExit)
	}
	if err != nil {
		return nil, err
	}
	s.startedAt = at
	if s.status == StatusCreated {
		s.status = StatusRunning
	}
	return early, nil
}

func (s *shim) kill(sig int, all bool) error {
	if sig <= 0 || sig > 64 {
		return errdefs.InvalidArgument("bad signal %d", sig)
	}
	s.mu.Lock()
	pending := s.pending
	s.mu.Unlock()
	if s.stopped() || pending {
		return errdefs.Conflict("container is not running")
	}
	return s.rt.kill(s.opts.ID, sig, all)
}

// wait answers once the container has exited, unless the client leaves.
func (s *shim) wait(c net.Conn, br *bufio.Reader) {
	gone := make(chan struct{})
	go func() {
		io.Copy(io.Discard, br)
		close(gone)
	}()
	select {
	case <-s.exited:
		s.mu.Lock()
		e := s.exit
		s.mu.Unlock()
		reply(c, e, nil)
	case <-gone:
	}
}

func (s *shim) shutdown() error {
	s.mu.Lock()
	pending := s.pending && !s.starting
	s.mu.Unlock()
	if pending {
		// Never run: nothing to wait for.
		return nil
	}
	if !s.stopped() {
		return errdefs.Conflict("container is running: kill it first")
	}
	s.deleteOnce.Do(func() { close(s.deleteNow) })
	<-s.deleted
	return nil
}

// attach streams the container's output to c and c's bytes to its stdin.
func (s *shim) attach(c *net.UnixConn, br *bufio.Reader, req request) {
	if !s.hub.add(c, req.Stdout, req.Stderr, func() error { return reply(c, struct{}{}, nil) }) {
		// Output already ended: acknowledge, then end the stream.
		reply(c, struct{}{}, nil)
		c.Close()
		return
	}
	if req.Stdin && s.stdin != nil {
		// The client ending its input does not close the container's
		// stdin, which others may share, unless asked to (StdinOnce).
		go func() {
			_, err := io.CopyBuffer(s.stdin, br, make([]byte, 8<<10))
			if err == nil && req.StdinOnce {
				s.stdin.Close()
			}
		}()
	}
}

func reply(c net.Conn, v any, err error) error {
	if err != nil {
		v = errorReply{Error: err.Error(), Kind: kindOf(err)}
	}
	b, merr := json.Marshal(v)
	if merr != nil {
		b, _ = json.Marshal(errorReply{Error: merr.Error()})
	}
	c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, werr := c.Write(append(b, '\n'))
	c.SetWriteDeadline(time.Time{})
	return werr
}

// readLine reads up to and without a newline, at most max bytes.
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		if len(line)+len(frag) > max {
			return nil, errors.New("line too long")
		}
		line = append(line, frag...)
		if err == nil {
			return line[:len(line)-1], nil
		}
		if err != bufio.ErrBufferFull {
			return nil, err
		}
	}
}
