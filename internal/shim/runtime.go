package shim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"golang.org/x/sys/unix"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth/internal/errdefs"
)

// runtimeTimeout bounds one runtime invocation (hooks may run in start).
const runtimeTimeout = 2 * time.Minute

// ociRuntime runs a runc-compatible runtime's command line.
type ociRuntime struct {
	path     string
	root     string
	stateDir string
	reaper   *reaper
	seq      atomic.Int64
}

// runtimeError is a failed invocation, with the runtime's own message.
type runtimeError struct {
	cmd string
	msg string
}

func (e *runtimeError) Error() string {
	if strings.HasPrefix(e.msg, e.cmd+":") {
		return e.msg
	}
	return e.cmd + ": " + e.msg
}

// run runs the runtime with args after the global flags. stdio, when not
// nil, is the command's stdin, stdout and stderr (a nil entry is
// /dev/null); when nil, stdout and stderr are captured for the error.
// Errors come from the runtime's --log, which is where runc and its peers
// write them when their stdio belongs to the container.
func (r *ociRuntime) run(stdio []*os.File, args ...string) error {
	logPath := filepath.Join(r.stateDir, "runtime-"+strconv.FormatInt(r.seq.Add(1), 10)+".log")
	defer os.Remove(logPath)
	argv := append([]string{r.path, "--root", r.root, "--log", logPath, "--log-format", "json"}, args...)
	files := make([]*os.File, 3)
	var capture *os.File
	if stdio == nil {
		pr, pw, err := os.Pipe()
		if err != nil {
			return err
		}
		defer pr.Close()
		files[1], files[2], capture = pw, pw, pr
	} else {
		copy(files, stdio)
	}
	for i, f := range files {
		if f == nil {
			null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
			if err != nil {
				return err
			}
			defer null.Close()
			files[i] = null
		}
	}
	pid, exitc, err := r.reaper.start(r.path, argv, files)
	if capture != nil {
		files[1].Close() // ours: the pipe ends when the runtime and its children close theirs
	}
	if err != nil {
		return fmt.Errorf("run %s: %w", r.path, err)
	}
	var out []byte
	readDone := make(chan struct{})
	if capture != nil {
		go func() {
			out, _ = io.ReadAll(io.LimitReader(capture, 64<<10))
			close(readDone)
		}()
	} else {
		close(readDone)
	}
	ctx, cancel := context.WithTimeout(context.Background(), runtimeTimeout)
	defer cancel()
	var e exit
	select {
	case e = <-exitc:
	case <-ctx.Done():
		unix.Kill(pid, unix.SIGKILL)
		e = <-exitc
	}
	if capture != nil {
		// Something the runtime started may hold the pipe open.
		capture.SetReadDeadline(time.Now().Add(time.Second))
		<-readDone
	}
	if e.status.Exited() && e.status.ExitStatus() == 0 {
		return nil
	}
	msg := runtimeLogErrors(logPath)
	if msg == "" {
		msg = strings.TrimSpace(string(out))
	}
	if code, sig := e.code(); msg == "" {
		if sig != 0 {
			msg = fmt.Sprintf("killed by signal %d", sig)
		} else {
			msg = fmt.Sprintf("exit status %d", code)
		}
	}
	return &runtimeError{cmd: args[0], msg: msg}
}

// runtimeLogErrors returns the error messages of a runtime's JSON log
// (runc: {"level":"error","msg":…}), or its text lines when it is not JSON.
func runtimeLogErrors(path string) string {
	data, err := os.ReadFile(path)
	if err != nil || len(data) == 0 {
		return ""
	}
	var msgs, text []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var l struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &l) != nil {
			text = append(text, line)
			continue
		}
		switch strings.ToLower(l.Level) {
		case "error", "fatal", "panic":
			if l.Msg != "" && (len(msgs) == 0 || msgs[len(msgs)-1] != l.Msg) {
				msgs = append(msgs, l.Msg)
			}
		}
	}
	if len(msgs) == 0 {
		msgs = text
	}
	s := strings.Join(msgs, "\n")
	if len(s) > 4096 {
		s = s[len(s)-4096:]
	}
	return s
}

// create runs the runtime's create, or with run its run --detach (create
// and start in one process).
// InProcess, when set (berth-shim-rt: cmd/berth-shim built with the
// shimruntime tag), is berth-oci linked into the shim: a run --detach or a
// delete by the berth-oci next to the shim happens in this process, which
// saves starting the runtime's executable (its exec and its Go and C
// start-up: a millisecond or two on the path of every start). Each
// reports false when it leaves the work to the executable.
//
// Warm does its one-time set-up (see oci.Warm) and Prefork forks the
// init of the container to come (see oci.PreforkInit): a spare runs both
// while it waits for its container. DropSpare kills that init when it
// will not be used (and with wait reaps it before returning).
var InProcess interface {
	Handles(runtimePath string) bool
	Warm()
	Prefork()
	DropSpare(wait bool)
	Run(root, id, bundle, pidFile, consoleSocket string, stdio []*os.File) (bool, error)
	Delete(root, id string, force bool) (bool, error)
}

func (r *ociRuntime) inProcess() bool { return InProcess != nil && InProcess.Handles(r.path) }

func (r *ociRuntime) create(run bool, id, bundle, pidFile, consoleSocket string, stdio []*os.File) error {
	if run && r.inProcess() {
		// Nothing of ours is reaped meanwhile: the create waits for what
		// it forks itself.
		r.reaper.freeze()
		done, err := InProcess.Run(r.root, id, bundle, pidFile, consoleSocket, stdio)
		r.reaper.thaw()
		if done {
			if err != nil {
				return &runtimeError{cmd: "run", msg: err.Error()}
			}
			return nil
		}
	}
	if InProcess != nil {
		InProcess.DropSpare(false)
	}
	args := []string{"create", "--bundle", bundle, "--pid-file", pidFile}
	if run {
		args = []string{"run", "--detach", "--bundle", bundle, "--pid-file", pidFile}
	}
	if consoleSocket != "" {
		args = append(args, "--console-socket", consoleSocket)
	}
	return r.run(stdio, append(args, id)...)
}

func (r *ociRuntime) start(id string) error { return r.run(nil, "start", id) }

func (r *ociRuntime) kill(id string, sig int, all bool) error {
	args := []string{"kill"}
	if all {
		args = append(args, "--all")
	}
	return r.run(nil, append(args, id, strconv.Itoa(sig))...)
}

func (r *ociRuntime) delete(id string, force bool) error {
	if r.inProcess() {
		r.reaper.freeze()
		done, err := InProcess.Delete(r.root, id, force)
		r.reaper.thaw()
		if done {
			return err
		}
	}
	args := []string{"delete"}
	if force {
		args = append(args, "--force")
	}
	return r.run(nil, append(args, id)...)
}

func (r *ociRuntime) exec(id, processFile, pidFile, consoleSocket string, stdio []*os.File) error {
	args := []string{"exec", "--process", processFile, "--detach", "--pid-file", pidFile}
	if consoleSocket != "" {
		args = append(args, "--tty", "--console-socket", consoleSocket)
	}
	return r.run(stdio, append(args, id)...)
}

// readPid reads a pid file the runtime wrote.
func readPid(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, errdefs.Internal("bad pid file %s: %q", path, b)
	}
	return pid, nil
}
