//go:build !berthinit

package oci

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/linux/seccomp"
)

// compileSeccomp builds the filter in the parent, with a cache under the
// state root: libseccomp takes milliseconds for a Docker-sized profile.
// notify says whether loading it yields a user-notification fd.
func compileSeccomp(root string, spec *specs.Spec) (prog []byte, notify bool, err error) {
	if spec.Linux == nil || spec.Linux.Seccomp == nil {
		return nil, false, nil
	}
	f, err := seccomp.CompileCached(filepath.Join(root, ".seccomp-cache"), spec.Linux.Seccomp)
	if err != nil || f == nil {
		return nil, false, err
	}
	prog, err = f.MarshalBinary()
	return prog, f.Notify(), err
}

// notifyChannel is how a notify fd travels from init to the parent, which
// hands it to the spec's listener.
type notifyChannel struct{ parent, child *os.File }

func newNotifyChannel(notify bool) (*notifyChannel, error) {
	if !notify {
		return nil, nil
	}
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return &notifyChannel{os.NewFile(uintptr(pair[0]), "seccomp-parent"), os.NewFile(uintptr(pair[1]), "seccomp-child")}, nil
}

func (n *notifyChannel) close() {
	if n != nil {
		n.parent.Close()
		n.child.Close()
	}
}

// forward passes the received fd to the listener with the process state.
func (n *notifyChannel) forward(spec *specs.Spec, pid int, st specs.State) error {
	if n == nil {
		return nil
	}
	f, err := RecvFD(n.parent)
	if err != nil {
		return fmt.Errorf("receive seccomp notify fd: %w", err)
	}
	defer f.Close()
	msg, err := seccomp.ListenerState(spec.Linux.Seccomp, pid, st)
	if err != nil {
		return err
	}
	if err := seccomp.SendNotifyFD(spec.Linux.Seccomp.ListenerPath, int(f.Fd()), msg); err != nil {
		return fmt.Errorf("linux.seccomp.listenerPath: %w", err)
	}
	return nil
}
