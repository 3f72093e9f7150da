package oci

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unsafe"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/linux/procattr"
	"github.com/berth-dev/berth/internal/linux/rootfs"
)

// Init is the re-executed child ("berth-oci init"). It runs on the locked
// main thread, already inside the container's new namespaces (and, through
// nsenter, the joined ones) or, forked ahead as a spare, entering them
// once its config comes; it never returns on success: it execs the
// container process.
func Init() int {
	fd, err := strconv.Atoi(os.Getenv(EnvInitFD))
	if err != nil {
		fmt.Fprintln(os.Stderr, "berth-oci init: not started by berth-oci")
		return 1
	}
	os.Unsetenv(EnvInitFD)
	if os.Getenv(EnvInitSpare) != "" {
		os.Unsetenv(EnvInitSpare)
		if !awaitContainer(fd) {
			return 0 // the spare was not needed
		}
	}
	sock := os.NewFile(uintptr(fd), "init-sock")
	fds, err := recvFiles(fd)
	if err != nil {
		fmt.Fprintln(os.Stderr, "berth-oci init: receive fds:", err)
		return 1
	}
	w := &wire{r: rawReader(fd), w: sock}
	cfg, err := w.recvConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, "berth-oci init: read config:", err)
		return 1
	}
	if err := cfg.assignFiles(fds); err != nil {
		fmt.Fprintln(os.Stderr, "berth-oci init:", err)
		return 1
	}
	if cfg.Enter != nil {
		if err := cfg.enter(); err != nil {
			_ = w.send(syncMsg{Type: msgError, Error: err.Error()})
			return 1
		}
	}
	var ierr error
	var l *specs.Linux
	if !cfg.Exec && cfg.Spec != nil {
		l = cfg.Spec.Linux
	}
	if err := procattr.ApplyEarly(cfg.Process, l); err != nil {
		_ = w.send(syncMsg{Type: msgError, Error: err.Error()})
		return 1
	}
	if cfg.Exec {
		if m, err := w.recv(); err != nil || m.Type != msgPlaced {
			fmt.Fprintln(os.Stderr, "berth-oci init: waiting for cgroup placement:", err)
			return 1
		}
		ierr = initExec(cfg, w)
	} else {
		ierr = initContainer(cfg, w)
	}
	// Only failures get here.
	var he *hookError
	_ = w.send(syncMsg{Type: msgError, Error: ierr.Error(), HookFailed: errors.As(ierr, &he)})
	return 1
}

func initContainer(cfg *initConfig, w *wire) error {
	spec := cfg.Spec
	// Nothing runs (no hook, no user process) before we sit in our cgroup,
	// but the whole rootfs is built meanwhile: the parent first says when
	// the cgroup directories exist (cgroup mounts bind them), then when we
	// are in them. On v2 both come at once, as msgPlaced.
	dirsReady, placed := false, false
	next := func() error {
		m, err := w.recv()
		if err != nil {
			return fmt.Errorf("waiting for the cgroup: %v", err)
		}
		switch m.Type {
		case msgCgroupReady:
			dirsReady = true
		case msgPlaced:
			dirsReady, placed = true, true
			if cfg.NewCgroupNS {
				// Only now is our cgroup the right namespace root.
				if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
					return fmt.Errorf("unshare cgroup namespace: %w", err)
				}
			}
		default:
			return fmt.Errorf("unexpected message %q while waiting for the cgroup", m.Type)
		}
		return nil
	}
	waitDirs := func() error {
		for !dirsReady {
			if err := next(); err != nil {
				return err
			}
		}
		return nil
	}
	waitPlaced := func() error {
		for !placed {
			if err := next(); err != nil {
				return err
			}
		}
		return nil
	}
	setup := &rootfs.Setup{
		BeforeCgroupMount: waitDirs,
		Spec:              spec, Root: cfg.Rootfs, Bundle: cfg.Bundle, Cgroups: cfg.Cgroups,
		CgroupV2: cfg.CgroupV2, NewUserNS: cfg.NewUserNS, NewNetNS: cfg.NewNetNS,
	}
	if !cfg.NoMountNS {
		if err := setup.Prepare(); err != nil {
			return fmt.Errorf("rootfs: %w", err)
		}
	}
	var console *os.File
	if cfg.Process != nil && cfg.Process.Terminal {
		var err error
		if console, err = openConsole(cfg, filepath.Join(cfg.Rootfs, "dev/pts/ptmx")); err != nil {
			return err
		}
		if err := bindConsole(cfg.Rootfs, console); err != nil {
			return err
		}
	}
	hooks := spec.Hooks != nil && len(spec.Hooks.CreateContainer) > 0
	if cfg.SyncHooks || hooks {
		// Hooks are processes of the container: in its cgroup.
		if err := waitPlaced(); err != nil {
			return err
		}
	}
	if cfg.SyncHooks {
		if err := w.send(syncMsg{Type: msgHooks}); err != nil {
			return err
		}
		if m, err := w.recv(); err != nil || m.Type != msgResume {
			return fmt.Errorf("waiting for hooks: %v", err)
		}
	}
	if spec.Hooks != nil {
		// Hooks run at the runtime's priority, not the init's boost.
		_ = unix.Setpriority(unix.PRIO_PROCESS, 0, cfg.Nice)
		// Run in our namespaces, with paths resolved before the pivot.
		if err := runHooks("createContainer", spec.Hooks.CreateContainer, cfg.State); err != nil {
			return err
		}
	}
	if cfg.NoMountNS {
		if err := rootfs.Chroot(cfg.Rootfs); err != nil {
			return err
		}
	} else {
		if err := rootfs.Pivot(cfg.Rootfs, cfg.NoPivot); err != nil {
			return err
		}
		// Before Finish makes /proc/sys read-only.
		if err := writeSysctls(spec.Linux.Sysctl); err != nil {
			return err
		}
		if err := rootfs.Finish(spec); err != nil {
			return err
		}
	}
	if spec.Hostname != "" {
		if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
			return fmt.Errorf("sethostname: %w", err)
		}
	}
	if spec.Domainname != "" {
		if err := unix.Setdomainname([]byte(spec.Domainname)); err != nil {
			return fmt.Errorf("setdomainname: %w", err)
		}
	}
	if err := waitPlaced(); err != nil {
		return err
	}
	var p *execProcess
	if cfg.Process != nil {
		var err error
		if p, err = prepareProcess(cfg, console); err != nil {
			return err
		}
	}
	if err := w.send(syncMsg{Type: msgReady}); err != nil {
		return err
	}
	w.close()
	if p == nil {
		// A container without a process only holds its namespaces; start
		// refuses it, and delete kills us.
		for {
			unix.Pause()
		}
	}
	// Block until `start`: opening the fifo for writing waits for a reader.
	ffd, err := rawOpenat(cfg.FifoFD, fifoName, unix.O_WRONLY|unix.O_CLOEXEC)
	if err != nil {
		return reportLate(fmt.Errorf("open exec fifo: %w", err))
	}
	unix.Close(cfg.FifoFD)
	fifo := os.NewFile(uintptr(ffd), fifoName)
	if _, err := fifo.Write([]byte{0}); err != nil {
		return reportLate(fmt.Errorf("write exec fifo: %w", err))
	}
	// The fifo stays open until execve closes it (O_CLOEXEC): `start`
	// reads until then, so it returns once the process really runs, or
	// with the error written here.
	fail := func(err error) error {
		fifo.Write([]byte(err.Error()))
		return reportLate(err)
	}
	if spec.Hooks != nil {
		if err := runHooks("startContainer", spec.Hooks.StartContainer, cfg.State); err != nil {
			return fail(err)
		}
	}
	return fail(p.exec())
}

// awaitContainer is a spare's wait for its container, which may be long:
// a regular blocking poll, so that the Go runtime sees the thread blocked
// and its monitor thread sleeps (a raw wait would look like running Go
// code, which it would try to preempt every 10 ms). False: the parent went
// away without a container for us.
func awaitContainer(fd int) bool {
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(pfd, -1)
		if err == unix.EINTR {
			continue
		}
		// The parent writes and then waits for us: a hang-up, even with
		// the EOF readable, is the parent gone (or giving up on us).
		return err == nil && pfd[0].Revents&unix.POLLIN != 0 && pfd[0].Revents&(unix.POLLHUP|unix.POLLERR) == 0
	}
}

// enter is a spare's start as a container's init: back to the normal
// scheduling class (a spare is born at idle priority) with the init's
// boost, then into the namespaces clone would have put it in, and onto the
// container's stdio.
func (c *initConfig) enter() error {
	_ = unix.SchedSetAttr(0, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_NORMAL, Nice: int32(c.Nice - initBoost)}, 0)
	for _, j := range c.Enter.Joins {
		fd, err := unix.Open(j.path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open namespace %s: %w", j.path, err)
		}
		err = unix.Setns(fd, j.flag)
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("join namespace %s: %w", j.path, err)
		}
	}
	if c.Enter.Unshare != 0 {
		if err := unix.Unshare(int(c.Enter.Unshare)); err != nil {
			return fmt.Errorf("unshare namespaces: %w", err)
		}
	}
	for i, fd := range c.StdioFDs {
		if fd < 0 {
			continue
		}
		if fd == i {
			if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0); err != nil {
				return fmt.Errorf("stdio: %w", err)
			}
			continue
		}
		if err := unix.Dup3(fd, i, 0); err != nil {
			return fmt.Errorf("stdio: %w", err)
		}
		unix.Close(fd)
	}
	return nil
}

// reportLate is for failures after `create` returned: only stderr is left.
func reportLate(err error) error {
	fmt.Fprintln(os.Stderr, "berth-oci init:", err)
	os.Exit(127)
	return err
}

func initExec(cfg *initConfig, w *wire) error {
	var console *os.File
	if cfg.Process.Terminal {
		ptmx := "/dev/pts/ptmx"
		if _, err := os.Stat(ptmx); err != nil {
			ptmx = "/dev/ptmx"
		}
		var err error
		if console, err = openConsole(cfg, ptmx); err != nil {
			return err
		}
	}
	p, err := prepareProcess(cfg, console)
	if err != nil {
		return err
	}
	if err := w.send(syncMsg{Type: msgReady}); err != nil {
		return err
	}
	w.close()
	return reportLate(p.exec())
}

var errNoConsoleSocket = errors.New("process.terminal is set but no --console-socket was given")

func writeSysctls(kv map[string]string) error {
	for key, val := range kv {
		path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
		if err := os.WriteFile(path, []byte(val), 0); err != nil {
			return fmt.Errorf("linux.sysctl %s: %w", key, err)
		}
	}
	return nil
}

// The init's blocking waits (its config, the exec fifo) are raw system
// calls: the Go runtime then keeps its one P on this thread instead of
// starting another thread to hand it to, and every extra thread has to be
// created now and killed again at execve.

// rawReader reads a blocking fd with raw read(2).
type rawReader int

func (r rawReader) Read(p []byte) (int, error) {
	for {
		n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(r), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
		switch {
		case e == unix.EINTR:
			continue
		case e != 0:
			return 0, e
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		return int(n), nil
	}
}

func rawOpenat(dirfd int, name string, flags int) (int, error) {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return -1, err
	}
	for {
		fd, _, e := unix.RawSyscall6(unix.SYS_OPENAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)), uintptr(flags), 0, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return -1, e
		}
		return int(fd), nil
	}
}
