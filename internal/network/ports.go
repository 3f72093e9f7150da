package network

import (
	"fmt"
	"net/netip"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
)

// portReserver holds a bound socket for every published host port, as
// docker-proxy does, so that a port already taken on the host (or by
// another container) fails the start clearly instead of being silently
// shadowed by the portmap plugin's DNAT, and nothing else takes it while
// the container runs. The sockets never listen: the DNAT rules send the
// traffic to the container before it could reach them.
type portReserver struct {
	mu    sync.Mutex
	byCtr map[string][]int // container ID -> fds
}

func newPortReserver() *portReserver { return &portReserver{byCtr: map[string][]int{}} }

// reserve binds every mapping's host port (choosing one where HostPort is
// 0) and returns the mappings with their ports.
func (r *portReserver) reserve(containerID string, ports []PortMapping) (out []PortMapping, err error) {
	var fds []int
	defer func() {
		if err != nil {
			for _, fd := range fds {
				unix.Close(fd)
			}
		}
	}()
	for _, p := range ports {
		fd, port, err := bindRange(p)
		if err != nil {
			return nil, err
		}
		fds = append(fds, fd)
		p.HostPort, p.HostPortEnd = port, 0
		out = append(out, p)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byCtr[containerID] = append(r.byCtr[containerID], fds...)
	return out, nil
}

func (r *portReserver) release(containerID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, fd := range r.byCtr[containerID] {
		unix.Close(fd)
	}
	delete(r.byCtr, containerID)
}

func (r *portReserver) releaseAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, fds := range r.byCtr {
		for _, fd := range fds {
			unix.Close(fd)
		}
		delete(r.byCtr, id)
	}
}

// bindRange binds the first free port of a mapping's host port range (or
// its one port).
func bindRange(p PortMapping) (int, int, error) {
	if p.HostPortEnd == 0 || p.HostPortEnd == p.HostPort {
		return bindPort(p)
	}
	if p.HostPort <= 0 || p.HostPortEnd < p.HostPort || p.HostPortEnd > 65535 {
		return -1, 0, errdefs.InvalidArgument("invalid host port range %d-%d", p.HostPort, p.HostPortEnd)
	}
	var last error
	for port := p.HostPort; port <= p.HostPortEnd; port++ {
		q := p
		q.HostPort = port
		fd, got, err := bindPort(q)
		if err == nil {
			return fd, got, nil
		}
		if !errdefs.IsConflict(err) {
			return -1, 0, err
		}
		last = err
	}
	return -1, 0, errdefs.Conflict("no free host port in %d-%d for %d/%s: %v", p.HostPort, p.HostPortEnd, p.ContainerPort, p.Protocol, last)
}

// bindPort binds (without listening) a socket on the mapping's host
// address and port; port 0 lets the kernel pick one.
func bindPort(p PortMapping) (int, int, error) {
	typ, proto := unix.SOCK_STREAM, unix.IPPROTO_TCP
	switch p.Protocol {
	case "tcp", "":
	case "udp":
		typ, proto = unix.SOCK_DGRAM, unix.IPPROTO_UDP
	case "sctp":
		typ, proto = unix.SOCK_SEQPACKET, unix.IPPROTO_SCTP
	default:
		return -1, 0, errdefs.InvalidArgument("invalid protocol %q for port %d", p.Protocol, p.ContainerPort)
	}
	host := netip.IPv6Unspecified()
	if p.HostIP != "" {
		a, err := netip.ParseAddr(p.HostIP)
		if err != nil {
			return -1, 0, errdefs.InvalidArgument("invalid host IP %q", p.HostIP)
		}
		host = a
	}
	family := unix.AF_INET6
	var sa unix.Sockaddr = &unix.SockaddrInet6{Port: p.HostPort, Addr: host.As16()}
	if host.Is4() {
		family = unix.AF_INET
		sa = &unix.SockaddrInet4{Port: p.HostPort, Addr: host.As4()}
	}
	fd, err := unix.Socket(family, typ|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return -1, 0, fmt.Errorf("reserve host port: %w", err)
	}
	if family == unix.AF_INET6 {
		// [::] covers IPv4 too: every address, as -p 8080:80 means.
		unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0)
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		shown := p.HostIP
		if shown == "" {
			shown = "0.0.0.0"
		}
		if err == unix.EADDRINUSE {
			return -1, 0, errdefs.Conflict("Bind for %s:%d failed: port is already allocated", shown, p.HostPort)
		}
		return -1, 0, errdefs.InvalidArgument("cannot publish %s:%d: %v", shown, p.HostPort, err)
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return -1, 0, err
	}
	port := p.HostPort
	switch a := got.(type) {
	case *unix.SockaddrInet4:
		port = a.Port
	case *unix.SockaddrInet6:
		port = a.Port
	}
	return fd, port, nil
}
