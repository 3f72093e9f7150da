package container

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// writeFiles writes the container's /etc/hostname, /etc/hosts and
// /etc/resolv.conf into its data directory (bind-mounted by the spec).
func (s *Service) writeFiles(c *Container) (hostname, hosts, resolv string, err error) {
	if c.Pod != nil {
		// The pod's, shared by its containers.
		d := c.Pod.Files
		return filepath.Join(d, "hostname"), filepath.Join(d, "hosts"), filepath.Join(d, "resolv.conf"), nil
	}
	if id, ok := strings.CutPrefix(string(c.HostConfig.NetworkMode), "container:"); ok {
		// The other container's files, as in Docker: its names and
		// resolvers are the network's.
		other, err := s.Get(id)
		if err != nil {
			return "", "", "", err
		}
		if other.Pod != nil {
			d := other.Pod.Files
			return filepath.Join(d, "hostname"), filepath.Join(d, "hosts"), filepath.Join(d, "resolv.conf"), nil
		}
		d := s.dataDir(other.ID)
		return filepath.Join(d, "hostname"), filepath.Join(d, "hosts"), filepath.Join(d, "resolv.conf"), nil
	}
	dir := s.dataDir(c.ID)
	hostname = filepath.Join(dir, "hostname")
	hosts = filepath.Join(dir, "hosts")
	resolv = filepath.Join(dir, "resolv.conf")
	name := c.Config.Hostname
	if c.Config.Domainname != "" {
		name += "." + c.Config.Domainname
	}
	var h bytes.Buffer
	h.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
	for _, e := range c.HostConfig.ExtraHosts {
		host, ip, ok := strings.Cut(e, ":")
		if !ok {
			host, ip, ok = strings.Cut(e, "=")
		}
		if !ok || host == "" || ip == "" {
			return "", "", "", fmt.Errorf("invalid extra host %q: want host:ip", e)
		}
		fmt.Fprintf(&h, "%s\t%s\n", ip, host)
	}
	if string(c.HostConfig.NetworkMode) == "host" {
		if hn, err := os.Hostname(); err == nil {
			fmt.Fprintf(&h, "127.0.1.1\t%s\n", hn)
		}
	}
	if c.Net != nil && len(c.Net.Attachments) > 0 {
		for _, ip := range c.Net.Attachments[0].IPs {
			fmt.Fprintf(&h, "%s\t%s\n", ip.Addr(), name)
		}
	}
	ns, _ := s.networkNameserver(c)
	files := map[string][]byte{hostname: []byte(c.Config.Hostname + "\n"), hosts: h.Bytes(), resolv: resolvConf(c, ns)}
	for p, b := range files {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return "", "", "", err
		}
	}
	return hostname, hosts, resolv, nil
}

// resolvConf is the host's resolv.conf without loopback nameservers
// (unreachable from a container), or public resolvers when none are left,
// with --dns/--dns-search/--dns-option applied.
//
// On a user network the network's DNS server (gw) comes first: it answers
// for the containers there and forwards the rest.
func resolvConf(c *Container, gw netip.Addr) []byte {
	var ns, search, opts []string
	if b, err := os.ReadFile("/etc/resolv.conf"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) < 2 {
				continue
			}
			switch f[0] {
			case "nameserver":
				if string(c.HostConfig.NetworkMode) == "host" || !(strings.HasPrefix(f[1], "127.") || f[1] == "::1") {
					ns = append(ns, f[1])
				}
			case "search":
				search = f[1:]
			case "options":
				opts = append(opts, f[1:]...)
			}
		}
	}
	if len(c.HostConfig.DNS) > 0 {
		ns = nil
		for _, a := range c.HostConfig.DNS {
			ns = append(ns, a.String())
		}
	}
	if gw.IsValid() {
		// Only the network's server: resolvers that ask all of them at
		// once (musl) would take an upstream's NXDOMAIN for a container
		// name. It forwards the rest to the host's resolvers.
		ns = []string{gw.String()}
	}
	if len(ns) == 0 {
		ns = []string{"8.8.8.8", "8.8.4.4"}
	}
	if len(c.HostConfig.DNSSearch) > 0 {
		search = c.HostConfig.DNSSearch
	}
	if len(c.HostConfig.DNSOptions) > 0 {
		opts = c.HostConfig.DNSOptions
	}
	var b bytes.Buffer
	for _, n := range ns {
		fmt.Fprintf(&b, "nameserver %s\n", n)
	}
	if len(search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	if len(opts) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(opts, " "))
	}
	return b.Bytes()
}
