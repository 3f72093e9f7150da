package network

import (
	"bufio"
	"bytes"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// dnsRegistry runs one DNS server per user network, on the network's
// gateway address (the host side of its bridge), as podman's aardvark-dns
// does: it answers with the addresses of the containers on that network
// by name, short ID and alias, and forwards every other query to the
// host's resolvers. Containers on the network get it as their nameserver.
type dnsRegistry struct {
	log     *slog.Logger
	mu      sync.Mutex
	servers map[string]*dnsServer // network ID
}

func newDNSRegistry(log *slog.Logger) *dnsRegistry {
	return &dnsRegistry{log: log, servers: map[string]*dnsServer{}}
}

// add registers an endpoint's names, starting the network's server.
func (r *dnsRegistry) add(n *Network, containerID string, a Attachment) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.servers[n.ID]
	if s == nil {
		gw := n.Gateway4()
		if !gw.IsValid() {
			return errors.New("no IPv4 gateway to serve DNS on")
		}
		var err error
		if s, err = startDNS(r.log, gw, !n.Internal); err != nil {
			return err
		}
		r.servers[n.ID] = s
	}
	var ips []netip.Addr
	for _, p := range a.IPs {
		ips = append(ips, p.Addr())
	}
	s.set(containerID, append(append([]string{}, a.DNSNames...), a.Aliases...), ips, a.Upstreams)
	return nil
}

func (r *dnsRegistry) remove(networkID, containerID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.servers[networkID]; s != nil {
		s.set(containerID, nil, nil, nil)
	}
}

func (r *dnsRegistry) stop(networkID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.servers[networkID]; s != nil {
		s.close()
		delete(r.servers, networkID)
	}
}

func (r *dnsRegistry) closeAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, s := range r.servers {
		s.close()
		delete(r.servers, id)
	}
}

type dnsEntry struct {
	names     []string
	ips       []netip.Addr
	upstreams []string
}

type dnsServer struct {
	log       *slog.Logger
	udp       net.PacketConn
	tcp       net.Listener
	upstreams []string
	forward   bool

	mu      sync.RWMutex
	entries map[string]dnsEntry // container ID
}

func startDNS(log *slog.Logger, addr netip.Addr, forward bool) (*dnsServer, error) {
	ap := netip.AddrPortFrom(addr, 53).String()
	udp, err := net.ListenPacket("udp", ap)
	if err != nil {
		return nil, err
	}
	tcp, err := net.Listen("tcp", ap)
	if err != nil {
		udp.Close()
		return nil, err
	}
	s := &dnsServer{log: log, udp: udp, tcp: tcp, upstreams: hostResolvers(), forward: forward, entries: map[string]dnsEntry{}}
	go s.serveUDP()
	go s.serveTCP()
	return s, nil
}

func (s *dnsServer) close() {
	s.udp.Close()
	s.tcp.Close()
}

func (s *dnsServer) set(containerID string, names []string, ips []netip.Addr, upstreams []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(names) == 0 {
		delete(s.entries, containerID)
		return
	}
	s.entries[containerID] = dnsEntry{names: names, ips: ips, upstreams: upstreams}
}

// upstreamsFor are the resolvers for a query from src: the asking
// container's own (--dns), or the host's.
func (s *dnsServer) upstreamsFor(src netip.Addr) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, e := range s.entries {
		if len(e.upstreams) > 0 && slices.Contains(e.ips, src) {
			return e.upstreams
		}
	}
	return s.upstreams
}

// srcAddr is the address a query came from.
func srcAddr(a net.Addr) netip.Addr {
	var ip net.IP
	switch a := a.(type) {
	case *net.UDPAddr:
		ip = a.IP
	case *net.TCPAddr:
		ip = a.IP
	}
	addr, _ := netip.AddrFromSlice(ip)
	return addr.Unmap()
}

// lookup returns the addresses of name ("" found means unknown).
func (s *dnsServer) lookup(name string) ([]netip.Addr, bool) {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []netip.Addr
	found := false
	for _, e := range s.entries {
		for _, n := range e.names {
			if strings.EqualFold(n, name) {
				found = true
				out = append(out, e.ips...)
				break
			}
		}
	}
	return out, found
}

func (s *dnsServer) serveUDP() {
	buf := make([]byte, 1500)
	for {
		n, from, err := s.udp.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		q := append([]byte(nil), buf[:n]...)
		go func() {
			if resp := s.answer(q, "udp", srcAddr(from)); resp != nil {
				s.udp.WriteTo(resp, from)
			}
		}()
	}
}

func (s *dnsServer) serveTCP() {
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			var l [2]byte
			for {
				if _, err := readFull(c, l[:]); err != nil {
					return
				}
				q := make([]byte, int(l[0])<<8|int(l[1]))
				if _, err := readFull(c, q); err != nil {
					return
				}
				resp := s.answer(q, "tcp", srcAddr(c.RemoteAddr()))
				if resp == nil {
					return
				}
				c.Write(append([]byte{byte(len(resp) >> 8), byte(len(resp))}, resp...))
			}
		}()
	}
}

func readFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// answer builds the reply to one query message; nil drops it.
func (s *dnsServer) answer(q []byte, proto string, src netip.Addr) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(q)
	if err != nil || h.Response {
		return nil
	}
	qs, err := p.AllQuestions()
	if err != nil || len(qs) != 1 {
		return reply(h, qs, dnsmessage.RCodeFormatError, nil)
	}
	question := qs[0]
	if question.Class == dnsmessage.ClassINET && (question.Type == dnsmessage.TypeA || question.Type == dnsmessage.TypeAAAA) {
		if ips, ok := s.lookup(question.Name.String()); ok {
			var rrs []netip.Addr
			for _, ip := range ips {
				if ip.Is4() == (question.Type == dnsmessage.TypeA) {
					rrs = append(rrs, ip)
				}
			}
			return reply(h, qs, dnsmessage.RCodeSuccess, rrs)
		}
	}
	ups := s.upstreamsFor(src)
	if !s.forward || len(ups) == 0 {
		return reply(h, qs, dnsmessage.RCodeServerFailure, nil)
	}
	for _, up := range ups {
		if resp, err := exchange(up, q, proto); err == nil {
			return resp
		}
	}
	return reply(h, qs, dnsmessage.RCodeServerFailure, nil)
}

// reply is an answer to the query with header h.
func reply(h dnsmessage.Header, qs []dnsmessage.Question, rcode dnsmessage.RCode, ips []netip.Addr) []byte {
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true,
		RecursionDesired: h.RecursionDesired, RecursionAvailable: true, RCode: rcode})
	b.EnableCompression()
	b.StartQuestions()
	for _, q := range qs {
		b.Question(q)
	}
	b.StartAnswers()
	for _, ip := range ips {
		rh := dnsmessage.ResourceHeader{Name: qs[0].Name, Class: dnsmessage.ClassINET, TTL: 600}
		if ip.Is4() {
			b.AResource(rh, dnsmessage.AResource{A: ip.As4()})
		} else {
			b.AAAAResource(rh, dnsmessage.AAAAResource{AAAA: ip.As16()})
		}
	}
	out, err := b.Finish()
	if err != nil {
		return nil
	}
	return out
}

// exchange forwards a query to an upstream resolver.
func exchange(server string, q []byte, proto string) ([]byte, error) {
	c, err := net.DialTimeout(proto, net.JoinHostPort(server, "53"), 2*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if proto == "tcp" {
		if _, err := c.Write(append([]byte{byte(len(q) >> 8), byte(len(q))}, q...)); err != nil {
			return nil, err
		}
		var l [2]byte
		if _, err := readFull(c, l[:]); err != nil {
			return nil, err
		}
		resp := make([]byte, int(l[0])<<8|int(l[1]))
		_, err := readFull(c, resp)
		return resp, err
	}
	if _, err := c.Write(q); err != nil {
		return nil, err
	}
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	return buf[:n], err
}

// hostResolvers are the host's nameservers (loopback ones included: the
// server runs on the host).
func hostResolvers() []string {
	b, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		return nil
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "nameserver" {
			if _, err := netip.ParseAddr(f[1]); err == nil {
				out = append(out, f[1])
			}
		}
	}
	return out
}
