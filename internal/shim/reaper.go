package shim

import (
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// exit is one reaped child.
type exit struct {
	pid    int
	status unix.WaitStatus
	at     time.Time
}

// code returns Docker's exit code and the killing signal (0 if none).
func (e exit) code() (code, sig int) {
	if e.status.Signaled() {
		return 128 + int(e.status.Signal()), int(e.status.Signal())
	}
	return e.status.ExitStatus(), 0
}

// maxUnclaimed bounds the exits kept for pids nobody watches yet.
const maxUnclaimed = 256

// reaper collects every child of the shim, which as a subreaper inherits
// the container's init and exec processes when the runtime exits. It owns
// all waiting: nothing else in the shim may wait for a child.
type reaper struct {
	// reapMu is held while waiting for children; a hand-over to a new
	// image holds it so that no exit is collected by the old one.
	reapMu    sync.Mutex
	mu        sync.Mutex
	subs      map[int]chan exit
	unclaimed map[int]exit
	order     []int
}

// sweepInterval is how often the reaper looks for orphans it was not
// told about (descendants that daemonised out of a container sharing the
// host's pid namespace), which nothing else would reap.
const sweepInterval = 30 * time.Second

// newReaper returns a reaper that learns of exits through pidfds in the
// netpoller, not SIGCHLD: os/signal would keep two threads and a locked
// goroutine in every idle shim, a good part of its memory.
func newReaper() *reaper {
	r := &reaper{subs: map[int]chan exit{}, unclaimed: map[int]exit{}}
	go func() {
		for range time.Tick(sweepInterval) {
			r.reap()
		}
	}()
	return r
}

// arm reaps once pid, our child, has exited.
func (r *reaper) arm(pid int) {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		fd = -1
	}
	r.armFD(pid, fd)
}

// armFD is arm with pid's pidfd (-1 if there is none).
func (r *reaper) armFD(pid, fd int) {
	if fd < 0 {
		// Already gone (reaped meanwhile), or no pidfds: reap now and
		// leave the rest to the sweep.
		go r.reap()
		return
	}
	unix.SetNonblock(fd, true)
	f := os.NewFile(uintptr(fd), "pidfd")
	go func() {
		defer f.Close()
		if rc, err := f.SyscallConn(); err == nil {
			// A pidfd polls readable once its process has exited.
			rc.Read(func(fd uintptr) bool {
				fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
				n, err := unix.Poll(fds, 0)
				return err != nil || n > 0
			})
		}
		r.reap()
	}()
}

func (r *reaper) reap() {
	r.reapMu.Lock()
	defer r.reapMu.Unlock()
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
		r.deliver(exit{pid: pid, status: ws, at: time.Now()})
	}
}

func (r *reaper) deliver(e exit) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ch, ok := r.subs[e.pid]; ok {
		delete(r.subs, e.pid)
		ch <- e
		return
	}
	// A process whose pid we learn later (from a pid file) may exit
	// first: keep its status for a while.
	r.unclaimed[e.pid] = e
	r.order = append(r.order, e.pid)
	for len(r.unclaimed) > maxUnclaimed {
		delete(r.unclaimed, r.order[0])
		r.order = r.order[1:]
	}
	if len(r.order) > 4*maxUnclaimed {
		live := r.order[:0]
		for _, p := range r.order {
			if _, ok := r.unclaimed[p]; ok {
				live = append(live, p)
			}
		}
		r.order = live
	}
}

// freeze stops reaping until thaw.
func (r *reaper) freeze() { r.reapMu.Lock() }

// thaw resumes reaping, collecting what exited meanwhile.
func (r *reaper) thaw() {
	r.reapMu.Unlock()
	go r.reap()
}

// waiting reports whether pid's exit is watched and not yet delivered.
func (r *reaper) waiting(pid int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.subs[pid]
	return ok
}

// start starts path with argv and files as its stdin, stdout and stderr,
// and returns its pid and where its exit arrives. Starting under the lock
// means the exit cannot be delivered before it is subscribed to.
//
// It forks with syscall.ForkExec, not os/exec: os.StartProcess probes
// pidfd support on its first use by cloning a throwaway child, a cost on
// the path of every container start. The pidfd comes from the clone.
func (r *reaper) start(path string, argv []string, files []*os.File) (int, <-chan exit, error) {
	fds := make([]uintptr, len(files))
	for i, f := range files {
		fds[i] = f.Fd()
	}
	pidfd := -1
	r.mu.Lock()
	defer r.mu.Unlock()
	attr := &syscall.ProcAttr{Env: os.Environ(), Files: fds, Sys: &syscall.SysProcAttr{PidFD: &pidfd}}
	pid, err := syscall.ForkExec(path, argv, attr)
	if err == syscall.EINVAL {
		// A kernel without CLONE_PIDFD (before 5.2): arm falls back.
		attr.Sys, pidfd = nil, -1
		pid, err = syscall.ForkExec(path, argv, attr)
	}
	if err != nil {
		return 0, nil, err
	}
	ch := make(chan exit, 1)
	r.subs[pid] = ch
	r.armFD(pid, pidfd)
	return pid, ch, nil
}

// watch returns where the exit of pid, a process we inherited, arrives,
// including one that has already been reaped.
func (r *reaper) watch(pid int) <-chan exit {
	r.mu.Lock()
	defer r.mu.Unlock()
	ch := make(chan exit, 1)
	if e, ok := r.unclaimed[pid]; ok {
		delete(r.unclaimed, pid)
		ch <- e
		return ch
	}
	r.subs[pid] = ch
	r.arm(pid)
	return ch
}
