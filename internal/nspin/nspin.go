// Package nspin makes namespaces that live without a process: each is
// created by a thread that unshares it, and pinned by bind-mounting its
// nsfs file at a path. Pods share network, IPC and UTS namespaces this
// way, with no infra process to keep them.
package nspin

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// Kind is a namespace kind that can be pinned.
type Kind struct {
	flag int
	file string // under /proc/<pid>/task/<tid>/ns/
}

var (
	Net = Kind{unix.CLONE_NEWNET, "net"}
	IPC = Kind{unix.CLONE_NEWIPC, "ipc"}
	UTS = Kind{unix.CLONE_NEWUTS, "uts"}
)

// Pin creates a namespace of kind k pinned at path; setup, if set, runs
// inside it first (e.g. to set the hostname of a UTS namespace). On error
// nothing is left.
func Pin(k Kind, path string, setup func() error) (err error) { return pin(k, path, setup, false) }

// PinIdle is Pin with the namespace made in the SCHED_IDLE class (a
// namespace made ahead of need takes no CPU anything else wants).
func PinIdle(k Kind, path string, setup func() error) error { return pin(k, path, setup, true) }

func pin(k Kind, path string, setup func() error, idle bool) (err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return fmt.Errorf("pin %s namespace: %w", k.file, err)
	}
	f.Close()
	defer func() {
		if err != nil {
			Unpin(path)
		}
	}()
	errc := make(chan error, 1)
	// The thread that unshares stays locked and ends with its goroutine:
	// the Go scheduler never reuses it for anything else.
	go func() {
		runtime.LockOSThread()
		if idle {
			// The thread ends with the goroutine: nothing else runs on it.
			unix.SchedSetAttr(0, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_IDLE}, 0)
		}
		if err := unix.Unshare(k.flag); err != nil {
			errc <- fmt.Errorf("unshare %s namespace: %w", k.file, err)
			return
		}
		if setup != nil {
			if err := setup(); err != nil {
				errc <- err
				return
			}
		}
		self := fmt.Sprintf("/proc/%d/task/%d/ns/%s", os.Getpid(), unix.Gettid(), k.file)
		if err := unix.Mount(self, path, "", unix.MS_BIND, ""); err != nil {
			errc <- fmt.Errorf("pin %s namespace at %s: %w", k.file, path, err)
			return
		}
		errc <- nil
	}()
	return <-errc
}

// Unpin releases a pinned namespace; a missing one is fine.
func Unpin(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unpin namespace %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// User is a user namespace; PinWithUser makes one.
var User = Kind{unix.CLONE_NEWUSER, "user"}

// IDMap maps Size ids from ContainerID in a user namespace to HostID
// outside it.
type IDMap struct{ ContainerID, HostID, Size uint32 }

// PinWithUser creates a user namespace with the given maps and, owned by
// it, a namespace of each other kind in pins, and pins each at its path.
// The caller's threads cannot enter a user namespace (the process is
// multi-threaded), so the namespaces are made by one clone of helper, a
// command that waits to be killed (berth-shim pause), which is killed once
// they are pinned. With pidNS the helper gets a new PID namespace too,
// whose first process it stays (a PID namespace cannot be pinned): it is
// left running in a session of its own and its pid returned; the caller
// reaps it. On error nothing is left.
func PinWithUser(helper []string, pins map[Kind]string, uids, gids []IDMap, pidNS bool) (pid int, err error) {
	if _, ok := pins[User]; !ok || len(helper) == 0 {
		return 0, errors.New("pin user namespace: no path or no helper")
	}
	var flags uintptr
	var made []string
	defer func() {
		if err != nil {
			for _, p := range made {
				Unpin(p)
			}
		}
	}()
	for k, path := range pins {
		flags |= uintptr(k.flag)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return 0, err
		}
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
		if err != nil {
			return 0, fmt.Errorf("pin %s namespace: %w", k.file, err)
		}
		f.Close()
		made = append(made, path)
	}
	attr := &syscall.SysProcAttr{
		Cloneflags: flags, UidMappings: sysMaps(uids), GidMappings: sysMaps(gids),
		GidMappingsEnableSetgroups: true,
	}
	if pidNS {
		attr.Cloneflags |= syscall.CLONE_NEWPID
		attr.Setsid = true
	} else {
		attr.Pdeathsig = syscall.SIGKILL
	}
	cmd := exec.Command(helper[0], helper[1:]...)
	cmd.Dir, cmd.SysProcAttr = "/", attr
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("user namespace: start %s: %w", helper[0], err)
	}
	defer func() {
		if err != nil || !pidNS {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	for k, path := range pins {
		self := fmt.Sprintf("/proc/%d/ns/%s", cmd.Process.Pid, k.file)
		if err := unix.Mount(self, path, "", unix.MS_BIND, ""); err != nil {
			return 0, fmt.Errorf("pin %s namespace at %s: %w", k.file, path, err)
		}
	}
	if !pidNS {
		return 0, nil
	}
	go cmd.Wait()
	return cmd.Process.Pid, nil
}

func sysMaps(m []IDMap) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, len(m))
	for i, x := range m {
		out[i] = syscall.SysProcIDMap{ContainerID: int(x.ContainerID), HostID: int(x.HostID), Size: int(x.Size)}
	}
	return out
}

// Enter runs fn on a thread inside the namespace of kind k pinned at path
// (one of the kinds a multi-threaded process may join: not User).
func Enter(k Kind, path string, fn func() error) error {
	ns, err := os.Open(path)
	if err != nil {
		return err
	}
	defer ns.Close()
	errc := make(chan error, 1)
	go func() {
		// As in Pin, the thread is never reused after setns.
		runtime.LockOSThread()
		if err := unix.Setns(int(ns.Fd()), k.flag); err != nil {
			errc <- fmt.Errorf("enter %s namespace %s: %w", k.file, path, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}
