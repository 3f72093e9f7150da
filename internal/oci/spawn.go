package oci

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/linux/exeseal"
)

// initCommand prepares `berth-oci init` from a sealed copy of ourselves,
// with the preserved fds at 3.. and the socket pair after them. release
// drops the sealed executable once the command started (or failed to).
func initCommand(preserve int, childSock *os.File, plan *nsPlan) (cmd *exec.Cmd, release func(), err error) {
	extra := make([]*os.File, 0, preserve+1)
	for i := 0; i < preserve; i++ {
		extra = append(extra, os.NewFile(uintptr(3+i), "preserved"))
	}
	extra = append(extra, childSock)
	exe, err := exeseal.Open()
	if err != nil {
		return nil, nil, fmt.Errorf("seal runtime binary: %w", err)
	}
	sealed, err := highFD(exe, len(extra))
	exe.Close()
	if err != nil {
		return nil, nil, err
	}
	return &exec.Cmd{
		Path:        sealed.path,
		Args:        []string{"berth-oci", "init"},
		Env:         append(initEnv(3+preserve), plan.env()...),
		Stdin:       os.Stdin,
		Stdout:      os.Stdout,
		Stderr:      os.Stderr,
		ExtraFiles:  extra,
		SysProcAttr: &syscall.SysProcAttr{Cloneflags: plan.clone},
	}, func() { unix.Close(sealed.fd) }, nil
}

// sealedExe is the executable's fd, moved above the ones ExtraFiles will
// occupy in the child, so "/proc/self/fd/N" still names it when execve runs.
type sealedExe struct {
	fd   int
	path string
}

func highFD(f *os.File, extra int) (sealedExe, error) {
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 3+extra+16)
	if err != nil {
		return sealedExe{}, err
	}
	return sealedExe{fd: fd, path: "/proc/self/fd/" + strconv.Itoa(fd)}, nil
}

// initEnv is the whole environment of the re-executed init. It is short-
// lived and single-threaded by design: no GC, one P, so the Go runtime
// starts no threads it does not need.
func initEnv(fd int) []string {
	return []string{EnvInitFD + "=" + strconv.Itoa(fd), "GOGC=off", "GOMAXPROCS=1"}
}

// The init's set-up is the critical path of a container start, and it
// competes for the CPU with this process's own work (validation, cgroup
// creation). Its main thread runs at a higher priority until it restores
// ours (initConfig.Nice) just before it execs the container's process,
// which therefore runs at the priority it would have had. Needs
// CAP_SYS_NICE; without it nothing changes.
const initBoost = 10

func boost(pid int) {
	_ = unix.Setpriority(unix.PRIO_PROCESS, pid, ownNice()-initBoost)
}

// ownNice is this process's nice value (getpriority returns 20-nice).
func ownNice() int {
	p, err := unix.Getpriority(unix.PRIO_PROCESS, 0)
	if err != nil {
		return 0
	}
	return 20 - p
}
