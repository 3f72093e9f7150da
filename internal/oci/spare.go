//go:build !berthinit

package oci

import (
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/linux/cgroups"
)

// A spare init is forked ahead of its container by a process that will
// create one container in-process (a spare berth-shim-rt), so that the
// init's exec and Go runtime start-up, ~2 ms that a create otherwise
// waits for, happen while nothing waits. It is born in a new pid
// namespace only (clone alone can make it pid 1 there) and waits for its
// config; the rest of the container's namespaces it joins and creates
// itself when the config comes (nsEnter), which is what a fork at that
// moment would have given it: a mount namespace copied then, with the
// container's rootfs in it. Only cgroup v1 hosts use spares: on v2 the
// init is cloned straight into its cgroup.
type spareInit struct {
	proc *Proc
	sock *os.File // our end of the socket pair
}

var spares struct {
	mu      sync.Mutex
	held    *spareInit
	closed  bool // taken or dropped: this process makes no more
	forking bool
}

// PreforkInit forks the spare init, unless one exists or the spare was
// already taken or dropped. Errors are of no interest: a create without
// a spare forks its own init.
func PreforkInit() {
	if cgroups.Unified() {
		return
	}
	spares.mu.Lock()
	if spares.closed || spares.held != nil || spares.forking {
		spares.mu.Unlock()
		return
	}
	spares.forking = true
	spares.mu.Unlock()
	sp := forkSpare()
	spares.mu.Lock()
	spares.forking = false
	if spares.closed && sp != nil {
		sp.discard()
		go sp.proc.Wait()
		sp = nil
	}
	spares.held = sp
	spares.mu.Unlock()
}

func forkSpare() *spareInit {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	parent := os.NewFile(uintptr(pair[0]), "init-parent")
	child := os.NewFile(uintptr(pair[1]), "init-child")
	defer child.Close()
	plan := &nsPlan{clone: unix.CLONE_NEWPID}
	cmd, err := newInitCommand(0, nil, child, plan)
	if err != nil {
		parent.Close()
		return nil
	}
	cmd.env = append(cmd.env, EnvInitSpare+"=1")
	proc, err := cmd.start()
	if err != nil {
		parent.Close()
		return nil
	}
	return &spareInit{proc: proc, sock: parent}
}

// DropSpareInit kills the spare init, if any, and makes no more: for a
// process whose container does not use it. With wait it is reaped before
// the call returns (a process about to exit must, or the spare is left to
// whoever inherits it); otherwise in the background.
func DropSpareInit(wait bool) {
	if sp := takeSpare(); sp != nil {
		sp.discard()
		if wait {
			sp.proc.Wait()
		} else {
			go sp.proc.Wait()
		}
	}
}

// takeSpare hands over the spare init, if there is one and it still
// waits; no spare is made after.
func takeSpare() *spareInit {
	spares.mu.Lock()
	sp := spares.held
	spares.held, spares.closed = nil, true
	spares.mu.Unlock()
	if sp == nil {
		return nil
	}
	// Waiting, it has nothing to say: readable or hung up means it died.
	pfd := []unix.PollFd{{Fd: int32(sp.sock.Fd()), Events: unix.POLLIN | unix.POLLRDHUP}}
	if n, err := unix.Poll(pfd, 0); err != nil || n != 0 {
		sp.discard()
		go sp.proc.Wait()
		return nil
	}
	return sp
}

// discard kills the spare; the caller reaps it.
func (sp *spareInit) discard() {
	sp.sock.Close()
	sp.proc.Kill()
}

// spareFits says whether a spare init can become the init of a container
// with this plan: a new pid namespace (the spare's own); other new ones of
// the kinds unshare can make for it; joined ones of the kinds a thread can
// join; nothing that needs the nsenter constructor or a user namespace;
// no preserved fds (the spare's fds were fixed at its fork).
func (p *nsPlan) spareFits(preserveFDs int) bool {
	const creatable = unix.CLONE_NEWPID | unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWNET
	if p.clone&unix.CLONE_NEWPID == 0 || p.clone&^creatable != 0 || p.unshareTime || p.forkInit ||
		p.newUser || p.joinUser || len(p.childJoin) > 0 || preserveFDs != 0 {
		return false
	}
	for _, j := range p.threadJoin {
		if j.flag != unix.CLONE_NEWNET && j.flag != unix.CLONE_NEWUTS && j.flag != unix.CLONE_NEWIPC {
			return false
		}
	}
	return true
}

// enterFor is what the spare does with the plan's namespaces.
func (p *nsPlan) enterFor() *nsEnter {
	return &nsEnter{Joins: p.threadJoin, Unshare: p.clone &^ unix.CLONE_NEWPID}
}
