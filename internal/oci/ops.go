//go:build !berthinit

package oci

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
	"unsafe"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/linux/cgroups"
)

// Handle is a loaded container.
type Handle struct {
	Store  Store
	Record *Record
	Spec   *specs.Spec
	cg     *cgroups.Manager
}

// Open loads a container by id.
func (s Store) Open(id string) (*Handle, error) {
	r, spec, err := s.Load(id)
	if err != nil {
		return nil, err
	}
	return &Handle{Store: s, Record: r, Spec: spec}, nil
}

// Cgroup returns the container's cgroup manager.
func (h *Handle) Cgroup() (*cgroups.Manager, error) {
	if h.cg == nil {
		cg, err := cgroups.FromPaths(h.Record.CgroupPaths)
		if err != nil {
			return nil, err
		}
		h.cg = cg
	}
	return h.cg, nil
}

// Status is the container's OCI status now.
func (h *Handle) Status() string {
	return h.Store.Status(h.Record, func() bool {
		cg, err := h.Cgroup()
		if err != nil {
			return false
		}
		st, err := cg.FreezerState()
		return err == nil && st == "FROZEN"
	})
}

// State is the OCI state document.
func (h *Handle) State() *State { return h.Record.OCIState(h.Status()) }

// Start releases a created container's process.
func (h *Handle) Start() error {
	switch st := h.Status(); st {
	case Created:
	case Stopped:
		return errdefs.FailedPrecondition("cannot start a container that has stopped")
	default:
		return errdefs.FailedPrecondition("cannot start an already %s container", st)
	}
	if h.Spec.Process == nil {
		// Nothing can ever run: the container ends here, stopped.
		h.kill()
		return errdefs.FailedPrecondition("cannot start container %s: its config has no process", h.Record.ID)
	}
	fifoPath := filepath.Join(h.Store.dir(h.Record.ID), fifoName)
	fd, err := unix.Open(fifoPath, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open exec fifo: %w", err)
	}
	defer unix.Close(fd)
	// The init may die instead of writing; poll so we notice.
	if err := waitReadable(fd, h.Record); err != nil {
		return err
	}
	var b [1]byte
	if _, err := unix.Read(fd, b[:]); err != nil {
		return fmt.Errorf("read exec fifo: %w", err)
	}
	if err := os.Remove(fifoPath); err != nil {
		return err
	}
	// Then until EOF: the init's end closes when it execs the process;
	// anything written before is why it could not.
	var msg []byte
	buf := make([]byte, 4096)
	for {
		if err := waitReadable(fd, nil); err != nil {
			return err
		}
		n, err := unix.Read(fd, buf)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read exec fifo: %w", err)
		}
		if n == 0 {
			break
		}
		msg = append(msg, buf[:n]...)
	}
	if len(msg) > 0 {
		h.kill()
		return fmt.Errorf("container %s failed to start: %s", h.Record.ID, msg)
	}
	if h.Spec.Hooks != nil {
		runHooksWarn("poststart", h.Spec.Hooks.Poststart, stateJSON(h.Record.OCIState(Running)))
	}
	return nil
}

// waitReadable polls fd for input or hang-up; with r set, it gives up when
// the container's init is gone.
func waitReadable(fd int, r *Record) error {
	// Raw ppoll: see newWire.
	for {
		pfd := unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
		ts := unix.NsecToTimespec(100e6)
		n, _, e := unix.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd)), 1, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
		if e != 0 && e != unix.EINTR {
			return e
		}
		if e == 0 && n > 0 {
			return nil
		}
		if r != nil && !r.Alive() {
			return errdefs.FailedPrecondition("container init exited before start")
		}
	}
}

// Kill sends sig to the init, or with all to every process in the cgroup.
func (h *Handle) Kill(sig unix.Signal, all bool) error {
	st := h.Status()
	if st == Stopped {
		return errdefs.FailedPrecondition("container %s is not running", h.Record.ID)
	}
	if all {
		return h.signalAll(sig)
	}
	if err := unix.Kill(h.Record.Pid, sig); err != nil {
		return fmt.Errorf("kill %d: %w", h.Record.Pid, err)
	}
	return nil
}

// signalAll signals every process in the cgroup, frozen first so none can
// fork away from the signal.
func (h *Handle) signalAll(sig unix.Signal) error {
	cg, err := h.Cgroup()
	if err != nil {
		return err
	}
	frozen := false
	if sig == unix.SIGKILL {
		frozen = cg.Freeze() == nil
	}
	pids, err := cg.Pids()
	if err != nil {
		return err
	}
	for _, p := range pids {
		if err := unix.Kill(p, sig); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("kill %d: %w", p, err)
		}
	}
	if frozen {
		return cg.Thaw()
	}
	return nil
}

// Delete removes a container. A running one needs force.
func (h *Handle) Delete(force bool) error {
	switch st := h.Status(); st {
	case Stopped:
	default:
		if !force {
			return errdefs.Conflict("cannot delete container %s that is not stopped: %s", h.Record.ID, st)
		}
		h.kill()
	}
	return h.destroy()
}

func (h *Handle) kill() {
	if h.Record.OwnPidNS {
		unix.Kill(h.Record.Pid, unix.SIGKILL)
	} else {
		h.signalAll(unix.SIGKILL)
	}
	if cg, err := h.Cgroup(); err == nil {
		cg.Thaw()
	}
	waitGone(h.Record, 10*time.Second)
}

// destroy removes the cgroup and the state, then runs poststop hooks.
func (h *Handle) destroy() error {
	if cg, err := h.Cgroup(); err == nil {
		if err := cg.Destroy(); err != nil {
			return fmt.Errorf("remove cgroup: %w", err)
		}
	}
	if err := os.RemoveAll(h.Store.dir(h.Record.ID)); err != nil {
		return err
	}
	if h.Spec.Hooks != nil {
		runHooksWarn("poststop", h.Spec.Hooks.Poststop, stateJSON(h.Record.OCIState(Stopped)))
	}
	return nil
}

// Pause freezes every process of the container.
func (h *Handle) Pause() error {
	if st := h.Status(); st != Running {
		return errdefs.FailedPrecondition("container %s is %s, not running", h.Record.ID, st)
	}
	cg, err := h.Cgroup()
	if err != nil {
		return err
	}
	return cg.Freeze()
}

// Resume thaws a paused container.
func (h *Handle) Resume() error {
	if st := h.Status(); st != Paused {
		return errdefs.FailedPrecondition("container %s is %s, not paused", h.Record.ID, st)
	}
	cg, err := h.Cgroup()
	if err != nil {
		return err
	}
	return cg.Thaw()
}

// Update applies new resource limits and keeps them in the saved spec.
func (h *Handle) Update(r *specs.LinuxResources) error {
	if err := cgroups.Validate(r); err != nil {
		return err
	}
	if h.Status() == Stopped {
		return errdefs.FailedPrecondition("container %s is stopped", h.Record.ID)
	}
	cg, err := h.Cgroup()
	if err != nil {
		return err
	}
	return cg.Set(r)
}
