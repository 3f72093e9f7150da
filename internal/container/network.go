package container

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	nettypes "github.com/moby/moby/api/types/network"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/events"
	"github.com/berth-dev/berth/internal/network"
)

// NetState is a started container's networking, as CNI set it up: kept
// in the record so that the endpoints are torn down after an exit, a
// removal or a crash of the daemon.
type NetState struct {
	NetNS       string                `json:"netns"`
	Attachments []network.Attachment  `json:"attachments,omitempty"`
	Ports       []network.PortMapping `json:"ports,omitempty"`
}

// netMode classifies a network mode: "none", "host", "container" or
// "cni" (a CNI network, whose name is returned).
func netMode(h *container.HostConfig) (kind, name string) {
	m := string(h.NetworkMode)
	switch {
	case m == "" || m == "default" || m == network.DefaultName:
		return "cni", network.DefaultName
	case m == "none", m == "host":
		return m, ""
	case strings.HasPrefix(m, "container:"):
		return "container", ""
	}
	return "cni", m
}

// resolveEndpoints checks the networks a create asks for and returns the
// endpoint settings by network name: the network mode's first, then the
// others of the request's EndpointsConfig.
func (s *Service) resolveEndpoints(h *container.HostConfig, nc *nettypes.NetworkingConfig) (map[string]*nettypes.EndpointSettings, error) {
	kind, primary := netMode(h)
	var asked map[string]*nettypes.EndpointSettings
	if nc != nil {
		asked = nc.EndpointsConfig
	}
	if kind != "cni" {
		if len(h.PortBindings) > 0 && kind != "host" {
			// Docker ignores them too, for these modes.
			h.PortBindings = nil
		}
		return nil, nil
	}
	if s.Networks == nil {
		if primary == network.DefaultName {
			return nil, nil // networking disabled: a private namespace with lo
		}
		return nil, errdefs.NotFound("network %s not found", primary)
	}
	out := map[string]*nettypes.EndpointSettings{}
	names := []string{primary}
	for name := range asked {
		if name != primary && !(primary == network.DefaultName && (name == "default" || name == "")) {
			names = append(names, name)
		}
	}
	for _, name := range names {
		n, err := s.Networks.Get(name)
		if err != nil {
			if errdefs.IsNotFound(err) {
				return nil, errdefs.NotFound("network %s not found", name)
			}
			return nil, err
		}
		ep := asked[name]
		if ep == nil && name == primary {
			ep = asked[string(h.NetworkMode)]
		}
		if ep == nil {
			ep = &nettypes.EndpointSettings{}
		} else {
			ep = ep.Copy()
		}
		if err := checkEndpoint(&n, ep); err != nil {
			return nil, err
		}
		ep.NetworkID = n.ID
		out[n.Name] = ep
	}
	if name := out[primaryName(out, primary)]; name == nil {
		return nil, errdefs.Internal("primary network missing")
	}
	if _, err := portMappings(h, nil); err != nil {
		return nil, err
	}
	return out, nil
}

func primaryName(eps map[string]*nettypes.EndpointSettings, primary string) string {
	if _, ok := eps[primary]; ok {
		return primary
	}
	for name := range eps {
		return name
	}
	return primary
}

// checkEndpoint validates what a user may ask of one endpoint.
func checkEndpoint(n *network.Network, ep *nettypes.EndpointSettings) error {
	if n.Default && len(ep.Aliases) > 0 {
		return errdefs.InvalidArgument("network-scoped alias is supported only for containers in user defined networks")
	}
	if ipam := ep.IPAMConfig; ipam != nil {
		for _, ip := range []netip.Addr{ipam.IPv4Address, ipam.IPv6Address} {
			if !ip.IsValid() {
				continue
			}
			if n.Default {
				return errdefs.InvalidArgument("user specified IP address is supported on user defined networks only")
			}
			in := false
			for _, sn := range n.Subnets {
				in = in || sn.Subnet.Contains(ip)
			}
			if !in {
				return errdefs.InvalidArgument("invalid IP address %s: not in any subnet of network %s", ip, n.Name)
			}
		}
	}
	return nil
}

// portMappings are the ports a container publishes: -p, and with -P every
// exposed port on a random host port.
// parseHostPort reads a binding's HostPort as the API sends it: a port, or
// a range "lo-hi" to take the first free port of (docker run -p
// 8000-8010:80); hi is 0 for a single port.
func parseHostPort(hp string) (lo, hi int, err error) {
	first, last, isRange := strings.Cut(hp, "-")
	lo, err = strconv.Atoi(first)
	if err != nil || lo < 0 || lo > 65535 {
		return 0, 0, fmt.Errorf("invalid host port %q", hp)
	}
	if !isRange {
		return lo, 0, nil
	}
	hi, err = strconv.Atoi(last)
	if err != nil || lo == 0 || hi < lo || hi > 65535 {
		return 0, 0, fmt.Errorf("invalid host port range %q", hp)
	}
	return lo, hi, nil
}

func portMappings(h *container.HostConfig, exposed map[nettypes.Port]struct{}) ([]network.PortMapping, error) {
	var out []network.PortMapping
	seen := map[nettypes.Port]bool{}
	ports := make([]nettypes.Port, 0, len(h.PortBindings))
	for p := range h.PortBindings {
		ports = append(ports, p)
	}
	sort.Slice(ports, func(i, j int) bool { return ports[i].String() < ports[j].String() })
	for _, p := range ports {
		seen[p] = true
		for _, b := range h.PortBindings[p] {
			m := network.PortMapping{ContainerPort: int(p.Num()), Protocol: string(p.Proto())}
			if b.HostIP.IsValid() && !b.HostIP.IsUnspecified() {
				m.HostIP = b.HostIP.String()
			}
			if hp := strings.TrimSpace(b.HostPort); hp != "" {
				lo, hi, err := parseHostPort(hp)
				if err != nil {
					return nil, errdefs.InvalidArgument("%v for %s", err, p)
				}
				m.HostPort, m.HostPortEnd = lo, hi
			}
			out = append(out, m)
		}
		if len(h.PortBindings[p]) == 0 {
			out = append(out, network.PortMapping{ContainerPort: int(p.Num()), Protocol: string(p.Proto())})
		}
	}
	if h.PublishAllPorts {
		var more []nettypes.Port
		for p := range exposed {
			if !seen[p] {
				more = append(more, p)
			}
		}
		sort.Slice(more, func(i, j int) bool { return more[i].String() < more[j].String() })
		for _, p := range more {
			out = append(out, network.PortMapping{ContainerPort: int(p.Num()), Protocol: string(p.Proto())})
		}
	}
	for _, m := range out {
		if m.ContainerPort <= 0 || m.ContainerPort > 65535 {
			return nil, errdefs.InvalidArgument("invalid container port %d", m.ContainerPort)
		}
	}
	return out, nil
}

// setupNetwork gives a starting container its namespace and endpoints,
// and records them before anything else can fail.
func (s *Service) setupNetwork(ctx context.Context, c *Container, exposed map[nettypes.Port]struct{}) error {
	if kind, _ := netMode(c.HostConfig); kind != "cni" || s.Networks == nil || len(c.Endpoints) == 0 {
		return nil
	}
	_, primary := netMode(c.HostConfig)
	primary = primaryName(c.Endpoints, primary)
	names := []string{primary}
	for name := range c.Endpoints {
		if name != primary {
			names = append(names, name)
		}
	}
	sort.Strings(names[1:])
	var eps []network.Endpoint
	for _, name := range names {
		es := c.Endpoints[name]
		n, err := s.Networks.Get(es.NetworkID)
		if err != nil {
			return fmt.Errorf("network %s: %w", name, err)
		}
		eps = append(eps, network.Endpoint{Network: n, Request: endpointRequest(c, es)})
	}
	ports, err := portMappings(c.HostConfig, exposed)
	if err != nil {
		return err
	}
	t0 := time.Now()
	atts, bound, err := s.Networks.Setup(ctx, c.ID, eps, ports)
	if err != nil {
		return err
	}
	s.log().Debug("network setup", "container", c.ID[:12], "took", time.Since(t0))
	c.Net = &NetState{NetNS: s.Networks.NetNSPath(c.ID), Attachments: atts, Ports: bound}
	if _, err := s.update(c.ID, func(rec *Container) error { rec.Net = c.Net; return nil }); err != nil {
		s.Networks.Teardown(context.WithoutCancel(ctx), c.ID, atts, bound)
		c.Net = nil
		return err
	}
	return nil
}

func endpointRequest(c *Container, es *nettypes.EndpointSettings) network.Request {
	r := network.Request{Aliases: es.Aliases, Names: []string{c.Name, c.ID[:12]}}
	for _, a := range c.HostConfig.DNS {
		r.DNS = append(r.DNS, a.String())
	}
	if ipam := es.IPAMConfig; ipam != nil {
		r.IP, r.IP6 = ipam.IPv4Address, ipam.IPv6Address
	}
	if len(es.MacAddress) > 0 {
		r.MAC = es.MacAddress.String()
	}
	return r
}

// teardownNetwork removes a stopped container's endpoints and namespace.
// The caller clears the record's Net in its next update (exited, the
// failed start) or deletes the record.
func (s *Service) teardownNetwork(id string) {
	if s.Networks == nil {
		return
	}
	c, err := s.Get(id)
	if err != nil {
		return
	}
	s.teardownNetworkOf(c)
}

// teardownNetworkOf is teardownNetwork from a record already read.
func (s *Service) teardownNetworkOf(c *Container) {
	if kind, _ := netMode(c.HostConfig); kind == "none" && c.Pod == nil && s.NonePool != nil {
		if err := s.NonePool.Release(c.ID); err != nil {
			s.log().Warn("release network namespace", "container", c.ID, "err", err)
		}
		return
	}
	if s.Networks == nil {
		return
	}
	id := c.ID
	if c.Net == nil {
		// A start cut short may have pinned a namespace and taken
		// addresses before recording them; containers without CNI
		// networks (none, host, another's, a pod's) have neither.
		if kind, _ := netMode(c.HostConfig); kind == "cni" && c.Pod == nil {
			if len(c.HostConfig.PortBindings) > 0 || c.HostConfig.PublishAllPorts {
				s.Networks.ForgetPorts(context.Background(), id)
			}
			s.Networks.Teardown(context.Background(), id, nil, nil)
		}
		return
	}
	s.Networks.TeardownLater(id, c.Net.Attachments, c.Net.Ports)
}

// userNetwork reports whether a container's DNS goes through a network's
// DNS server, and which address it has.
func (s *Service) networkNameserver(c *Container) (netip.Addr, bool) {
	if c.Net == nil || len(c.Net.Attachments) == 0 || s.Networks == nil {
		return netip.Addr{}, false
	}
	n, err := s.Networks.Get(c.Net.Attachments[0].Network)
	if err != nil || n.Default {
		return netip.Addr{}, false
	}
	gw := n.Gateway4()
	return gw, gw.IsValid()
}

// Connect attaches a container to a network: now if it runs, otherwise
// from its next start.
func (s *Service) Connect(ctx context.Context, term, netTerm string, es *nettypes.EndpointSettings) error {
	if s.Networks == nil {
		return errdefs.NotImplemented("networking is disabled")
	}
	n, err := s.Networks.Get(netTerm)
	if err != nil {
		return err
	}
	if n.Name == network.HostName || n.Name == network.NoneName {
		return errdefs.PermissionDenied("container cannot be disconnected from host network or connected to host network")
	}
	c, err := s.Get(term)
	if err != nil {
		return err
	}
	unlock := s.lock(c.ID)
	defer unlock()
	if c, err = s.Get(c.ID); err != nil {
		return err
	}
	if kind, _ := netMode(c.HostConfig); kind != "cni" {
		return errdefs.PermissionDenied("container sharing network namespace with another container or host cannot be connected to any other network")
	}
	if _, ok := c.Endpoints[n.Name]; ok {
		return errdefs.PermissionDenied("endpoint with name %s already exists in network %s", c.Name, n.Name)
	}
	if es == nil {
		es = &nettypes.EndpointSettings{}
	} else {
		es = es.Copy()
	}
	if err := checkEndpoint(&n, es); err != nil {
		return err
	}
	es.NetworkID = n.ID
	var att *network.Attachment
	if c.State.Running() && c.Net != nil {
		a, err := s.Networks.Connect(ctx, c.ID, network.Endpoint{Network: n, Request: endpointRequest(c, es)}, fmt.Sprintf("eth%d", nextIf(c.Net.Attachments)))
		if err != nil {
			return err
		}
		att = &a
	}
	_, err = s.update(c.ID, func(c *Container) error {
		if c.Endpoints == nil {
			c.Endpoints = map[string]*nettypes.EndpointSettings{}
		}
		c.Endpoints[n.Name] = es
		if att != nil && c.Net != nil {
			c.Net.Attachments = append(c.Net.Attachments, *att)
		}
		return nil
	})
	if err == nil {
		s.publishNetwork("connect", n, c)
	}
	return err
}

func nextIf(atts []network.Attachment) int {
	used := map[string]bool{}
	for _, a := range atts {
		used[a.IfName] = true
	}
	i := 0
	for used[fmt.Sprintf("eth%d", i)] {
		i++
	}
	return i
}

// Disconnect detaches a container from a network.
func (s *Service) Disconnect(ctx context.Context, term, netTerm string) error {
	if s.Networks == nil {
		return errdefs.NotImplemented("networking is disabled")
	}
	n, err := s.Networks.Get(netTerm)
	if err != nil {
		return err
	}
	c, err := s.Get(term)
	if err != nil {
		return err
	}
	unlock := s.lock(c.ID)
	defer unlock()
	if c, err = s.Get(c.ID); err != nil {
		return err
	}
	if _, ok := c.Endpoints[n.Name]; !ok {
		return errdefs.PermissionDenied("container %s is not connected to network %s", c.ID[:12], n.Name)
	}
	if c.Net != nil {
		for _, a := range c.Net.Attachments {
			if a.Network == n.ID {
				if err := s.Networks.Disconnect(ctx, c.ID, a); err != nil {
					return err
				}
			}
		}
	}
	_, err = s.update(c.ID, func(c *Container) error {
		delete(c.Endpoints, n.Name)
		if c.Net != nil {
			kept := c.Net.Attachments[:0]
			for _, a := range c.Net.Attachments {
				if a.Network != n.ID {
					kept = append(kept, a)
				}
			}
			c.Net.Attachments = kept
		}
		return nil
	})
	if err == nil {
		s.publishNetwork("disconnect", n, c)
	}
	return err
}

func (s *Service) publishNetwork(action string, n network.Network, c *Container) {
	if s.Events != nil {
		s.Events.Publish(events.Event{Type: "network", Action: action, ID: n.ID, Attributes: map[string]string{"name": n.Name, "type": n.Driver, "container": c.ID}})
	}
}

// NetworkUsers names the containers with an endpoint on a network.
func (s *Service) NetworkUsers(networkID string) []string {
	list, _ := s.List()
	var out []string
	for _, c := range list {
		for _, es := range c.Endpoints {
			if es.NetworkID == networkID {
				out = append(out, c.Name)
			}
		}
	}
	sort.Strings(out)
	return out
}
