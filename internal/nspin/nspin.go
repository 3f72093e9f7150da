// Package nspin makes namespaces that live without a process: each is
// created by a thread that unshares it, and pinned by bind-mounting its
// nsfs file at a path. Pods share network, IPC and UTS namespaces this
// way, with no infra process to keep them.
package nspin

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

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
func Pin(k Kind, path string, setup func() error) (err error) {
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
