//go:build linux && cgo

package seccomp

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// sendTimeout bounds how long SendNotifyFD waits on a stuck listener.
const sendTimeout = 30 * time.Second

// ListenerState returns the container process state JSON a seccomp agent
// expects on listenerPath: fds ["seccompFd"], pid, metadata from
// s.ListenerMetadata and the container state.
func ListenerState(s *specs.LinuxSeccomp, pid int, state specs.State) ([]byte, error) {
	ps := specs.ContainerProcessState{
		Version: specs.Version,
		Fds:     []string{specs.SeccompFdName},
		Pid:     pid,
		State:   state,
	}
	if s != nil {
		ps.Metadata = s.ListenerMetadata
	}
	return json.Marshal(ps)
}

// SendNotifyFD connects to the seccomp agent's unix stream socket at
// listenerPath, sends state (see ListenerState) with fd attached as
// SCM_RIGHTS in the first message, and closes the connection, as the runtime
// spec's listenerPath section asks. fd stays open in the caller.
func SendNotifyFD(listenerPath string, fd int, state []byte) error {
	if listenerPath == "" {
		return errors.New("seccomp listener: empty listenerPath")
	}
	if fd < 0 {
		return fmt.Errorf("seccomp listener %s: invalid fd %d", listenerPath, fd)
	}
	if len(state) == 0 || !json.Valid(state) {
		return fmt.Errorf("seccomp listener %s: state is not JSON", listenerPath)
	}
	// Raw syscalls, not package net: berth-oci pays every package's
	// initialisation on each short-lived invocation.
	sfd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("seccomp listener: %w", err)
	}
	defer unix.Close(sfd)
	tv := unix.NsecToTimeval(sendTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(sfd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv); err != nil {
		return fmt.Errorf("seccomp listener %s: %w", listenerPath, err)
	}
	if err := unix.Connect(sfd, &unix.SockaddrUnix{Name: listenerPath}); err != nil {
		return fmt.Errorf("seccomp listener: dial %s: %w", listenerPath, err)
	}
	n, err := unix.SendmsgN(sfd, state, unix.UnixRights(fd), nil, 0)
	if err != nil {
		return fmt.Errorf("seccomp listener %s: sending state: %w", listenerPath, err)
	}
	// A stream socket may take part of the payload; the rest goes without
	// fds, which the spec allows.
	for n < len(state) {
		m, err := unix.Write(sfd, state[n:])
		if err != nil {
			return fmt.Errorf("seccomp listener %s: sending state: %w", listenerPath, err)
		}
		n += m
	}
	return nil
}
