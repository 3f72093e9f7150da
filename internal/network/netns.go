package network

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/nspin"
)

// NewNetNS creates a network namespace pinned at path (a bind mount of
// the namespace file), with its loopback interface up. The namespace
// lives as long as the pin, with no process in it.
func NewNetNS(path string) error { return nspin.Pin(nspin.Net, path, loopbackUp) }

// newNetNSIdle is NewNetNS at idle CPU priority (see nspin.PinIdle).
func newNetNSIdle(path string) error { return nspin.PinIdle(nspin.Net, path, loopbackUp) }

// loopbackUp sets lo up in the calling thread's network namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback up: %w", err)
	}
	return nil
}

// loopbackUpIn sets lo up in the namespace pinned at path.
func loopbackUpIn(path string) error { return nspin.Enter(nspin.Net, path, loopbackUp) }

// RemoveNetNS unpins and removes a namespace made by NewNetNS; a missing
// one is not an error.
func RemoveNetNS(path string) error { return nspin.Unpin(path) }

// InNetNS runs fn on a thread inside the namespace pinned at path.
func InNetNS(path string, fn func() error) error { return nspin.Enter(nspin.Net, path, fn) }
