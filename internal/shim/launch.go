package shim

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// LaunchOptions say how to start a shim; see Options for the meanings.
type LaunchOptions struct {
	// Binary is the berth-shim executable ("berth-shim" from $PATH if empty).
	Binary      string
	ID          string
	Bundle      string
	Runtime     string
	RuntimeRoot string
	StateDir    string
	LogPath     string
	LogFormat   string
	LogMaxSize  int64
	LogMaxFiles int
	TTY         bool
	Stdin       bool
	RunOnStart  bool
	// RebirthAfter is Options.RebirthAfter (0 for the default).
	RebirthAfter time.Duration
	// Spare launches a spare (only StateDir, ShimLog and Debug count).
	Spare bool
	// ShimLog receives the shim's own log ("" for none); Debug raises its level.
	ShimLog string
	Debug   bool
	// Timeout bounds the wait for the container's creation (default 2 min).
	Timeout time.Duration
}

// Launch starts a shim detached from the caller (its own session, no
// stdio, no parent-death signal, so it outlives berthd) and returns once
// the container is created (with RunOnStart: once the shim listens) and
// the shim answers. If the create fails the
// error carries the runtime's message and nothing is left running.
//
// The caller stays the shim's parent until it exits: a goroutine reaps it.
func Launch(o LaunchOptions) error {
	_, err := launch(o)
	return err
}

// launch is Launch; it also returns the shim's pid.
func launch(o LaunchOptions) (int, error) {
	bin := o.Binary
	if bin == "" {
		bin = "berth-shim"
	}
	args := []string{"--state-dir", o.StateDir, "--ready-fd", "3"}
	if o.Spare {
		args = append(args, "--spare")
	} else {
		args = append(args,
			"--id", o.ID, "--bundle", o.Bundle, "--runtime", o.Runtime,
			"--runtime-root", o.RuntimeRoot,
			"--log-path", o.LogPath,
			"--log-max-size", strconv.FormatInt(o.LogMaxSize, 10),
			"--log-max-file", strconv.Itoa(o.LogMaxFiles))
	}
	if o.LogFormat != "" {
		args = append(args, "--log-format", o.LogFormat)
	}
	if o.TTY {
		args = append(args, "--tty")
	}
	if o.Stdin {
		args = append(args, "--stdin")
	}
	if o.RunOnStart {
		args = append(args, "--run-on-start")
	}
	if o.RebirthAfter != 0 {
		args = append(args, "--rebirth-after", o.RebirthAfter.String())
	}
	if o.ShimLog != "" {
		args = append(args, "--shim-log", o.ShimLog)
	}
	if o.Debug {
		args = append(args, "--debug")
	}
	if err := os.MkdirAll(o.StateDir, 0o700); err != nil {
		return 0, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer r.Close()
	cmd := exec.Command(bin, args...)
	cmd.Dir = "/"
	cmd.Env = shimEnv(os.Environ())
	if o.ShimLog != "" {
		// Stderr too, so that a crash's trace is kept.
		if f, err := os.OpenFile(o.ShimLog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600); err == nil {
			defer f.Close()
			cmd.Stderr = f
		}
	}
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if o.Spare {
		err = startIdle(cmd)
	} else {
		err = cmd.Start()
	}
	w.Close()
	if err != nil {
		return 0, fmt.Errorf("start shim: %w", err)
	}
	pid := cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	r.SetReadDeadline(time.Now().Add(timeout))
	var b [1]byte
	n, rerr := io.ReadFull(r, b[:])
	if n == 1 && b[0] == 'R' {
		return pid, nil
	}
	if errors.Is(rerr, os.ErrDeadlineExceeded) {
		// Killing the shim would leave the container unsupervised; it
		// may still finish and exit on its own, so report and leave it.
		return 0, fmt.Errorf("shim for %s: not ready after %s", o.ID, timeout)
	}
	// The shim closed the pipe without the ready byte: it is exiting.
	var werr error
	select {
	case werr = <-exited:
	case <-time.After(30 * time.Second):
		werr = errors.New("did not exit")
	}
	if msg := ReadCreateError(o.StateDir); msg != "" {
		return 0, fmt.Errorf("create container %s: %s", o.ID, msg)
	}
	return 0, fmt.Errorf("shim for %s failed: %v", o.ID, werr)
}

// startIdle starts cmd in the SCHED_IDLE class, which a child takes from
// the thread that forks it: a spare's start-up then only uses a CPU that
// nothing else wants. Take puts it back in the normal class.
func startIdle(cmd *exec.Cmd) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.SchedSetAttr(0, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_IDLE}, 0); err != nil {
		return cmd.Start()
	}
	err := cmd.Start()
	if rerr := unix.SchedSetAttr(0, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_NORMAL}, 0); rerr != nil {
		// The thread cannot go back: let it die with the goroutine
		// rather than run others' work at idle priority.
		runtime.Goexit()
	}
	return err
}

// schedNormal moves every thread of pid to the normal scheduling class.
func schedNormal(pid int) {
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			unix.SchedSetAttr(tid, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_NORMAL}, 0)
		}
	}
}

// shimEnv is the environment of a shim: the caller's, with Go's heap
// profiling off from the first allocation (its bucket table would be a
// good part of an idle shim's memory; runtime.MemProfileRate set in main
// comes too late), and one P from the start: lowering GOMAXPROCS in main
// frees the other Ps' caches, which allocates the span sets they go back
// to, up to ~150 KiB that stay resident (when a goroutine ran on another
// P first, which is down to scheduling).
func shimEnv(env []string) []string {
	out := make([]string, 0, len(env)+2)
	debug := "memprofilerate=0"
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GODEBUG="); ok {
			if v != "" {
				debug = v + "," + debug
			}
			continue
		}
		if strings.HasPrefix(kv, "GOMAXPROCS=") {
			continue
		}
		out = append(out, kv)
	}
	return append(out, "GODEBUG="+debug, "GOMAXPROCS=1")
}
