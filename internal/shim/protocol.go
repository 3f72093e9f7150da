// Package shim is berth-shim, the small supervisor that holds one
// container's stdio, writes its log, reaps its processes and keeps its exit
// status whether or not berthd is running, together with the client berthd
// uses to launch one and talk to it.
//
// The control socket, STATE/shim.sock (mode 0600), takes one JSON request
// line per connection and answers with one JSON line: {"error":"…",
// "kind":"…"} on failure (kind names the errdefs class), else the op's
// result:
//
//	{"op":"state"}                       {"status":"created|running|stopped","pid":N,"exitCode":N,"exitedAt":…,"startedAt":…}
//	{"op":"start"}                       {}
//	{"op":"wait"}                        {"exitCode":N,"exitedAt":…,"signal":N} once the init exited and its output is logged
//	                                     (the runtime's delete may still be running: shutdown waits for it)
//	{"op":"kill","signal":N,"all":B}     {}
//	{"op":"resize","width":W,"height":H} {}
//	{"op":"close-stdin"}                 {}
//	{"op":"attach","stdin":B,"stdout":B,"stderr":B}                    {} then the stream
//	{"op":"exec","execID":S,"process":{…},"tty":B,"stdin":B}          {"pid":N} then the stream
//	{"op":"exec-state","execID":S}       {"running":B,"pid":N,"exitCode":N}
//	{"op":"exec-resize","execID":S,"width":W,"height":H} {}
//	{"op":"reopen-log"}                  {} (CRI log format only)
//	{"op":"shutdown"}                    {} and the shim leaves (stopped containers only)
//	{"op":"assign","options":{…}}        {} (a spare shim: the container it is for, see Spares)
//
// After attach and exec the connection carries the process's stdio: output
// in Docker's multiplexed framing (an 8-byte header: stream 1 or 2, three
// zero bytes, big-endian length) without a terminal, raw with one; bytes
// from the client are its stdin. The shim closes the connection when the
// output ends (attach) or the process has exited (exec).
package shim

import (
	"errors"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/errdefs"
)

// Files in the state directory.
const (
	SocketName      = "shim.sock"
	ExitFileName    = "exit.json"
	PidFileName     = "init.pid"
	ShimPidFileName = "shim.pid" // the shim's own pid
	CreateErrorName = "create-error"
	consoleName     = "console.sock"
)

// Container statuses reported by State.
const (
	StatusCreated = "created"
	StatusRunning = "running"
	StatusStopped = "stopped"
)

// Request ops.
const (
	opState      = "state"
	opStart      = "start"
	opWait       = "wait"
	opKill       = "kill"
	opResize     = "resize"
	opCloseStdin = "close-stdin"
	opAttach     = "attach"
	opExec       = "exec"
	opExecState  = "exec-state"
	opExecResize = "exec-resize"
	opShutdown   = "shutdown"
	opReopenLog  = "reopen-log"
	opAssign     = "assign"
)

// Stream ids of the multiplexed framing (byte 0 of each header).
const (
	StreamStdout byte = 1
	StreamStderr byte = 2
)

// request is every op's request; each op reads the fields it needs.
type request struct {
	Op     string `json:"op"`
	Signal int    `json:"signal,omitempty"`
	All    bool   `json:"all,omitempty"`
	Width  int    `json:"width,omitempty"`
	Height int    `json:"height,omitempty"`
	Stdin  bool   `json:"stdin,omitempty"`
	Stdout bool   `json:"stdout,omitempty"`
	Stderr bool   `json:"stderr,omitempty"`
	// StdinOnce: the container's stdin closes when this attachment's
	// input ends (Docker's StdinOnce).
	StdinOnce bool           `json:"stdinOnce,omitempty"`
	TTY       bool           `json:"tty,omitempty"`
	ExecID    string         `json:"execID,omitempty"`
	Process   *specs.Process `json:"process,omitempty"`
	Options   *Options       `json:"options,omitempty"`
}

// State is the container's status as the shim sees it.
type State struct {
	Status    string    `json:"status"`
	Pid       int       `json:"pid"`
	ExitCode  int       `json:"exitCode"`
	ExitedAt  time.Time `json:"exitedAt,omitzero"`
	StartedAt time.Time `json:"startedAt,omitzero"`
}

// ExitStatus is how the container's init ended; it is also the content of
// STATE/exit.json. ExitCode is Docker's: the status of a normal exit,
// 128+n for a death by signal n (then Signal is n).
type ExitStatus struct {
	ExitCode int       `json:"exitCode"`
	ExitedAt time.Time `json:"exitedAt"`
	Signal   int       `json:"signal,omitempty"`
	// OOMKilled: the kernel's OOM killer killed a process of the
	// container's memory cgroup.
	OOMKilled bool `json:"oomKilled,omitempty"`
}

// ExecState is the status of a process started with Exec.
type ExecState struct {
	Running  bool `json:"running"`
	Pid      int  `json:"pid"`
	ExitCode int  `json:"exitCode"`
}

type execReply struct {
	Pid int `json:"pid"`
}

type errorReply struct {
	Error string `json:"error"`
	Kind  string `json:"kind,omitempty"`
}

// Error kinds on the wire, so that the client returns errdefs classes.
var kinds = []struct {
	name  string
	class error
}{
	{"invalid", errdefs.ErrInvalidArgument},
	{"not-found", errdefs.ErrNotFound},
	{"exists", errdefs.ErrAlreadyExists},
	{"conflict", errdefs.ErrConflict},
	{"precondition", errdefs.ErrFailedPrecondition},
	{"unavailable", errdefs.ErrUnavailable},
	{"not-implemented", errdefs.ErrNotImplemented},
}

func kindOf(err error) string {
	for _, k := range kinds {
		if errors.Is(err, k.class) {
			return k.name
		}
	}
	return ""
}

func errorFromReply(r errorReply) error {
	for _, k := range kinds {
		if k.name == r.Kind {
			return &wireError{msg: r.Error, class: k.class}
		}
	}
	return errors.New(r.Error)
}

type wireError struct {
	msg   string
	class error
}

func (e *wireError) Error() string { return e.msg }
func (e *wireError) Unwrap() error { return e.class }
