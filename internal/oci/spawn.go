//go:build !berthinit

package oci

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/linux/exeseal"
)

// Proc is the init (or exec) process berth-oci forked and may wait for.
// It is started with syscall.ForkExec rather than os/exec: os.StartProcess
// first probes pidfd support by forking a throw-away child, which sat on
// the critical path of every container start.
type Proc struct {
	Pid    int
	status unix.WaitStatus
	done   bool
}

// Kill sends SIGKILL.
func (p *Proc) Kill() { unix.Kill(p.Pid, unix.SIGKILL) }

// Wait reaps the process and returns its wait status.
func (p *Proc) Wait() (unix.WaitStatus, error) {
	if p.done {
		return p.status, nil
	}
	// Raw: a container may run for long, and a regular blocking call
	// keeps the scheduler's monitor thread busy meanwhile.
	for {
		_, _, e := unix.RawSyscall6(unix.SYS_WAIT4, uintptr(p.Pid), uintptr(unsafe.Pointer(&p.status)), 0, 0, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		p.done = true
		return p.status, nil
	}
}

// ExitCode is the shell's view of the status: the code, or 128+signal.
func (p *Proc) ExitCode() int {
	ws, err := p.Wait()
	switch {
	case err != nil:
		return 255
	case ws.Signaled():
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// initCommand is `berth-oci init` from a sealed copy of ourselves, with
// the preserved fds at 3.. and the socket pair after them.
type initCommand struct {
	path  string
	env   []string
	files []uintptr
	attr  *syscall.SysProcAttr
	exeFD int
}

func newInitCommand(preserve int, stdio []*os.File, childSock *os.File, plan *nsPlan) (*initCommand, error) {
	files := []uintptr{0, 1, 2}
	for i, f := range stdio {
		if i < 3 && f != nil {
			files[i] = f.Fd()
		}
	}
	for i := 0; i < preserve; i++ {
		files = append(files, uintptr(3+i))
	}
	files = append(files, childSock.Fd())
	exe, err := exeseal.OpenPath(initBinary(plan))
	if err != nil {
		return nil, fmt.Errorf("seal runtime binary: %w", err)
	}
	// Above the fds the child gets, so "/proc/self/fd/N" still names the
	// executable when execve runs.
	fd, err := unix.FcntlInt(exe.Fd(), unix.F_DUPFD_CLOEXEC, len(files)+16)
	exe.Close()
	if err != nil {
		return nil, err
	}
	return &initCommand{
		path:  "/proc/self/fd/" + strconv.Itoa(fd),
		env:   append(initEnv(3+preserve), plan.env(3+preserve)...),
		files: files,
		attr:  &syscall.SysProcAttr{Cloneflags: plan.clone},
		exeFD: fd,
	}, nil
}

// start forks and execs; the sealed executable is released either way.
// The init is born boosted (see initBoost): the forking thread raises its
// own priority for the fork and restores it after.
func (c *initCommand) start() (*Proc, error) {
	defer unix.Close(c.exeFD)
	runtime.LockOSThread()
	nice := ownNice()
	tid := unix.Gettid()
	_ = unix.Setpriority(unix.PRIO_PROCESS, tid, nice-initBoost)
	pid, err := syscall.ForkExec(c.path, []string{"berth-oci", "init"}, &syscall.ProcAttr{
		Env: c.env, Files: c.files, Sys: c.attr,
	})
	_ = unix.Setpriority(unix.PRIO_PROCESS, tid, nice)
	runtime.UnlockOSThread()
	if err != nil {
		return nil, err
	}
	return &Proc{Pid: pid}, nil
}

// InitBinaryName is the slim init installed next to berth-oci.
const InitBinaryName = "berth-oci-init"

// initBinary picks what to run as the init: the slim init binary next to
// us (no cgo, faster to start) unless a user or mount namespace must be
// joined, which needs the nsenter constructor of the full binary.
func initBinary(plan *nsPlan) string {
	if len(plan.childJoin) > 0 {
		return "/proc/self/exe"
	}
	self, err := os.Executable()
	if err != nil {
		return "/proc/self/exe"
	}
	p := filepath.Join(filepath.Dir(self), InitBinaryName)
	if unix.Access(p, unix.X_OK) != nil {
		return "/proc/self/exe"
	}
	return p
}

// initEnv is the whole environment of the re-executed init. It is short-
// lived and single-threaded by design: no GC, one P, so the Go runtime
// starts no threads it does not need.
func initEnv(fd int) []string {
	return []string{EnvInitFD + "=" + strconv.Itoa(fd), "GOGC=off", "GOMAXPROCS=1"}
}

// ownNice is this process's nice value (getpriority returns 20-nice).
func ownNice() int {
	p, err := unix.Getpriority(unix.PRIO_PROCESS, 0)
	if err != nil {
		return 0
	}
	return 20 - p
}

// addConsole passes the terminal's socket: the caller's own (run and exec
// proxying the pty) or a new connection to --console-socket, which the
// returned func closes.
func (f *initFiles) addConsole(conn *os.File, socket string) (func(), error) {
	if conn != nil {
		f.add(fileConsole, conn)
		return func() {}, nil
	}
	conn, err := dialConsole(socket)
	if err != nil {
		return nil, err
	}
	f.add(fileConsole, conn)
	return func() { conn.Close() }, nil
}
