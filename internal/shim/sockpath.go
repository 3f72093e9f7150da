package shim

import (
	"fmt"
	"net"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// maxSockPath is the longest path sun_path holds (108 bytes with the NUL).
const maxSockPath = 107

// sockPath returns a name for path that fits in a unix socket address: path
// itself, or, when it is too long, a path through an open descriptor of its
// directory (/proc/self/fd/N/name; /proc/PID/… when another process must
// use it). release closes that descriptor.
func sockPath(path string, forOthers bool) (name string, release func(), err error) {
	if len(path) <= maxSockPath {
		return path, func() {}, nil
	}
	dir, base := filepath.Split(path)
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, fmt.Errorf("open %s: %w", dir, err)
	}
	proc := "self"
	if forOthers {
		proc = fmt.Sprint(os.Getpid())
	}
	name = fmt.Sprintf("/proc/%s/fd/%d/%s", proc, fd, base)
	if len(name) > maxSockPath {
		unix.Close(fd)
		return "", nil, fmt.Errorf("socket name %s is too long", base)
	}
	return name, func() { unix.Close(fd) }, nil
}

// listenUnix listens on path with mode 0600 from the start.
func listenUnix(path string) (*net.UnixListener, error) {
	name, release, err := sockPath(path, false)
	if err != nil {
		return nil, err
	}
	defer release()
	os.Remove(path)
	// The umask is process-wide, but nothing else creates files while the
	// shim sets up its sockets.
	old := unix.Umask(0o177)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: name, Net: "unix"})
	unix.Umask(old)
	if err != nil {
		return nil, err
	}
	// The listener must not unlink a /proc/… name on Close; we remove path.
	l.SetUnlinkOnClose(false)
	return l, nil
}

func dialUnix(path string) (*net.UnixConn, error) {
	name, release, err := sockPath(path, false)
	if err != nil {
		return nil, err
	}
	defer release()
	return net.DialUnix("unix", nil, &net.UnixAddr{Name: name, Net: "unix"})
}
