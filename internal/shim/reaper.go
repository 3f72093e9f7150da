package shim

import (
	"os"
	"os/exec"
	"os/signal"
	"sync"
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
	mu        sync.Mutex
	subs      map[int]chan exit
	unclaimed map[int]exit
	order     []int
}

func newReaper() *reaper {
	r := &reaper{subs: map[int]chan exit{}, unclaimed: map[int]exit{}}
	c := make(chan os.Signal, 1)
	signal.Notify(c, unix.SIGCHLD)
	go func() {
		for range c {
			r.reap()
		}
	}()
	return r
}

func (r *reaper) reap() {
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

// start starts cmd and returns where its exit arrives. Starting under the
// lock means the exit cannot be delivered before it is subscribed to.
func (r *reaper) start(cmd *exec.Cmd) (<-chan exit, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ch := make(chan exit, 1)
	r.subs[cmd.Process.Pid] = ch
	return ch, nil
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
	return ch
}
