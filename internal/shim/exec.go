package shim

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/errdefs"
)

// maxEndedExecs bounds the finished execs kept for exec-state.
const maxEndedExecs = 128

// execProc is one process started with exec.
type execProc struct {
	tty      bool
	pid      int
	running  bool
	exitCode int
	master   *os.File
}

func validExecID(id string) bool {
	if id == "" || len(id) > 256 {
		return false
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// execOp starts a process in the container and makes c its stdio until it
// exits; the connection is then closed and exec-state has the exit code.
func (s *shim) execOp(c *net.UnixConn, br *bufio.Reader, req request) {
	p, pid, stdio, err := s.execStart(req)
	if err != nil {
		reply(c, nil, err)
		c.Close()
		return
	}
	exitc := s.reaper.watch(pid)
	if err := reply(c, execReply{Pid: pid}, nil); err != nil {
		// The process runs without a client; its output is discarded.
		s.log.Warn("exec client went away", "exec", req.ExecID)
	}
	fw := &frameWriter{conn: c, framed: !p.tty}
	var wg sync.WaitGroup
	for i, f := range stdio.outputs {
		wg.Add(1)
		go func(f *os.File, stream byte) {
			defer wg.Done()
			buf := make([]byte, 16<<10)
			for {
				n, err := f.Read(buf)
				if n > 0 {
					fw.write(stream, buf[:n])
				}
				if err != nil {
					return
				}
			}
		}(f, StreamStdout+byte(i))
	}
	if stdio.stdin != nil {
		go func() {
			io.CopyBuffer(stdio.stdin, br, make([]byte, 8<<10))
			if !p.tty {
				// End of the client's input is the end of the process's.
				stdio.stdin.Close()
			}
		}()
	}
	e := <-exitc
	code, _ := e.code()
	s.mu.Lock()
	p.running, p.exitCode = false, code
	s.execsEnded = append(s.execsEnded, req.ExecID)
	for len(s.execsEnded) > maxEndedExecs {
		delete(s.execs, s.execsEnded[0])
		s.execsEnded = s.execsEnded[1:]
	}
	s.mu.Unlock()
	deadline := time.Now().Add(drainTimeout)
	for _, f := range stdio.outputs {
		f.SetReadDeadline(deadline)
	}
	wg.Wait()
	for _, f := range stdio.outputs {
		f.Close()
	}
	if stdio.stdin != nil && !p.tty {
		stdio.stdin.Close()
	}
	s.mu.Lock()
	p.master = nil
	s.mu.Unlock()
	c.Close()
}

// execStdio is the shim's side of an exec's stdio.
type execStdio struct {
	outputs []*os.File // stdout, stderr; or the pty master
	stdin   *os.File   // pipe or pty master; nil without stdin
}

// execStart registers the exec and runs the runtime's exec.
func (s *shim) execStart(req request) (p *execProc, pid int, stdio execStdio, err error) {
	if !validExecID(req.ExecID) {
		return nil, 0, stdio, errdefs.InvalidArgument("bad exec id %q", req.ExecID)
	}
	if req.Process == nil || len(req.Process.Args) == 0 {
		return nil, 0, stdio, errdefs.InvalidArgument("exec needs a process with args")
	}
	s.mu.Lock()
	if s.status != StatusRunning {
		st := s.status
		s.mu.Unlock()
		return nil, 0, stdio, errdefs.Conflict("container is %s", st)
	}
	if _, ok := s.execs[req.ExecID]; ok {
		s.mu.Unlock()
		return nil, 0, stdio, errdefs.AlreadyExists("exec %s exists", req.ExecID)
	}
	s.execSeq++
	n := strconv.Itoa(s.execSeq)
	p = &execProc{tty: req.TTY}
	s.execs[req.ExecID] = p
	s.mu.Unlock()

	var ours []*os.File
	defer func() {
		if err != nil {
			for _, f := range ours {
				f.Close()
			}
			s.mu.Lock()
			delete(s.execs, req.ExecID)
			s.mu.Unlock()
		}
	}()
	proc := *req.Process
	proc.Terminal = req.TTY
	b, err := json.Marshal(&proc)
	if err != nil {
		return nil, 0, stdio, err
	}
	base := filepath.Join(s.opts.StateDir, "exec-"+n)
	procFile, pidFile := base+".json", base+".pid"
	defer os.Remove(procFile)
	defer os.Remove(pidFile)
	if err := os.WriteFile(procFile, b, 0o600); err != nil {
		return nil, 0, stdio, err
	}
	if req.TTY {
		cs, err := newConsoleSocket(filepath.Join(s.opts.StateDir, "e"+n+".sock"))
		if err != nil {
			return nil, 0, stdio, err
		}
		defer cs.close()
		if err := s.rt.exec(s.opts.ID, procFile, pidFile, cs.name, nil); err != nil {
			return nil, 0, stdio, err
		}
		m, err := cs.master(5 * time.Second)
		if err != nil {
			return nil, 0, stdio, err
		}
		ours = append(ours, m)
		stdio.outputs = []*os.File{m}
		if req.Stdin {
			stdio.stdin = m
		}
		p.master = m
	} else {
		var theirs []*os.File
		pipe := func() (r, w *os.File, err error) {
			if r, w, err = os.Pipe(); err == nil {
				ours, theirs = append(ours, r, w), append(theirs, r, w)
			}
			return
		}
		outR, outW, err := pipe()
		if err != nil {
			return nil, 0, stdio, err
		}
		errR, errW, err := pipe()
		if err != nil {
			return nil, 0, stdio, err
		}
		var inR, inW *os.File
		if req.Stdin {
			if inR, inW, err = pipe(); err != nil {
				return nil, 0, stdio, err
			}
		}
		err = s.rt.exec(s.opts.ID, procFile, pidFile, "", []*os.File{inR, outW, errW})
		for _, f := range []*os.File{inR, outW, errW} {
			if f != nil {
				f.Close()
			}
		}
		if err != nil {
			return nil, 0, stdio, err
		}
		stdio.outputs, stdio.stdin = []*os.File{outR, errR}, inW
	}
	pid, err = readPid(pidFile)
	if err != nil {
		return nil, 0, stdio, fmt.Errorf("exec: %w", err)
	}
	s.mu.Lock()
	p.pid, p.running = pid, true
	s.mu.Unlock()
	return p, pid, stdio, nil
}

func (s *shim) execState(id string) (ExecState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.execs[id]
	if !ok {
		return ExecState{}, errdefs.NotFound("exec %s not found", id)
	}
	return ExecState{Running: p.running, Pid: p.pid, ExitCode: p.exitCode}, nil
}

func (s *shim) execResize(id string, width, height int) error {
	s.mu.Lock()
	p, ok := s.execs[id]
	var m *os.File
	if ok {
		m = p.master
	}
	s.mu.Unlock()
	switch {
	case !ok:
		return errdefs.NotFound("exec %s not found", id)
	case !p.tty:
		return errdefs.FailedPrecondition("exec %s has no terminal", id)
	case m == nil:
		return errdefs.Conflict("exec %s is not running", id)
	}
	if err := setWinsize(m, width, height); err != nil {
		return errdefs.InvalidArgument("resize: %v", err)
	}
	return nil
}
