package network

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/libcni"
	cnitypes "github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
)

// DefaultPluginDirs are where the standard CNI plugins live: Debian's
// containernetworking-plugins, and the upstream location.
var DefaultPluginDirs = []string{"/opt/cni/bin", "/usr/lib/cni"}

// cniVersion is the CNI spec version of the generated configurations
// (containernetworking-plugins 1.1 speaks up to 1.0.0).
const cniVersion = "1.0.0"

// confList is the CNI configuration of a network: a bridge with host-local
// addresses, then, for an endpoint that publishes ports, portmap.
// Masquerading and forwarding are per network, not per container (see
// rules.go), so no plugin runs iptables for a container without ports:
// each such invocation costs several processes.
func (m *Manager) confList(n *Network, withPorts bool) (*libcni.NetworkConfigList, error) {
	var ranges [][]map[string]string
	var routes []map[string]string
	for _, s := range n.Subnets {
		ranges = append(ranges, []map[string]string{{"subnet": s.Subnet.String(), "gateway": s.Gateway.String()}})
		if !n.Internal {
			dst := "0.0.0.0/0"
			if s.Subnet.Addr().Is6() {
				dst = "::/0"
			}
			routes = append(routes, map[string]string{"dst": dst})
		}
	}
	bridge := map[string]any{
		"type":         "bridge",
		"bridge":       n.Bridge,
		"isGateway":    true,
		"ipMasq":       false,
		"hairpinMode":  true,
		"capabilities": map[string]bool{"ips": true, "mac": true},
		"ipam": map[string]any{
			"type":    "host-local",
			"ranges":  ranges,
			"routes":  routes,
			"dataDir": m.ipamDir(),
		},
	}
	if n.Internal {
		// No default route, and not even a gateway on the bridge for
		// the containers to use: only the subnet and the DNS server.
		bridge["isDefaultGateway"] = false
	}
	plugins := []any{bridge}
	if withPorts && !n.Internal {
		plugins = append(plugins, map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}, "snat": true})
	}
	raw, err := json.Marshal(map[string]any{"cniVersion": cniVersion, "name": cniName(n), "plugins": plugins})
	if err != nil {
		return nil, err
	}
	return libcni.ConfListFromBytes(raw)
}

// cniName is the network's name as CNI (and so IPAM and iptables) sees it.
func cniName(n *Network) string { return "berth-" + n.ID[:12] }

func (m *Manager) ipamDir() string { return filepath.Join(m.State, "ipam") }

// rtConf is one container's endpoint on one network, for CNI.
func (m *Manager) rtConf(containerID, ifName string, req Request, ports []PortMapping) *libcni.RuntimeConf {
	caps := map[string]any{}
	var ips []string
	for _, a := range []netip.Addr{req.IP, req.IP6} {
		if a.IsValid() {
			ips = append(ips, a.String())
		}
	}
	if len(ips) > 0 {
		caps["ips"] = ips
	}
	if req.MAC != "" {
		caps["mac"] = req.MAC
	}
	if len(ports) > 0 {
		var pm []map[string]any
		for _, p := range ports {
			e := map[string]any{"hostPort": p.HostPort, "containerPort": p.ContainerPort, "protocol": p.Protocol}
			if p.HostIP != "" {
				e["hostIP"] = p.HostIP
			}
			pm = append(pm, e)
		}
		caps["portMappings"] = pm
	}
	return &libcni.RuntimeConf{
		ContainerID:    containerID,
		NetNS:          m.NetNSPath(containerID),
		IfName:         ifName,
		CapabilityArgs: caps,
	}
}

// add runs CNI ADD and returns the endpoint it made.
func (m *Manager) add(ctx context.Context, n *Network, containerID, ifName string, req Request, ports []PortMapping) (Attachment, error) {
	if err := m.ensureRules(n); err != nil {
		return Attachment{}, err
	}
	list, err := m.confList(n, len(ports) > 0)
	if err != nil {
		return Attachment{}, err
	}
	res, err := m.cni.AddNetworkList(ctx, list, m.rtConf(containerID, ifName, req, ports))
	if err != nil {
		return Attachment{}, fmt.Errorf("network %s: %s", n.Name, cniMessage(err))
	}
	a := Attachment{Network: n.ID, IfName: ifName, Aliases: req.Aliases, DNSNames: req.Names, Upstreams: req.DNS, EndpointID: newID()}
	if err := a.fill(res); err != nil {
		return Attachment{}, fmt.Errorf("network %s: %w", n.Name, err)
	}
	return a, nil
}

// fill takes the addresses, gateways and MAC of a CNI result.
func (a *Attachment) fill(res cnitypes.Result) error {
	r, err := types100.NewResultFromResult(res)
	if err != nil {
		return fmt.Errorf("CNI result: %w", err)
	}
	for _, ip := range r.IPs {
		p, ok := netip.AddrFromSlice(ip.Address.IP)
		if !ok {
			continue
		}
		ones, _ := ip.Address.Mask.Size()
		a.IPs = append(a.IPs, netip.PrefixFrom(p.Unmap(), ones))
		if gw, ok := netip.AddrFromSlice(ip.Gateway); ok && ip.Gateway != nil {
			a.Gateways = append(a.Gateways, gw.Unmap())
		}
	}
	for _, i := range r.Interfaces {
		if i.Name == a.IfName && i.Sandbox != "" {
			a.MAC = i.Mac
		}
	}
	return nil
}

// del runs CNI DEL; a network or namespace already gone is no error.
func (m *Manager) del(ctx context.Context, n *Network, containerID, ifName string, ports []PortMapping) error {
	list, err := m.confList(n, len(ports) > 0)
	if err != nil {
		return err
	}
	rt := m.rtConf(containerID, ifName, Request{}, ports)
	if _, err := os.Stat(rt.NetNS); err != nil {
		// CNI DEL must still release addresses and rules; plugins accept
		// a missing namespace.
		rt.NetNS = ""
	}
	if err := m.cni.DelNetworkList(ctx, list, rt); err != nil {
		return fmt.Errorf("network %s: %s", n.Name, cniMessage(err))
	}
	return nil
}

// delPorts removes the portmap rules of containerID on network n without
// knowing its mappings (a start cut short before it recorded them): the
// plugin's DEL removes its chains by container ID, but does nothing when it
// is given no mapping, so it gets a placeholder.
func (m *Manager) delPorts(ctx context.Context, n *Network, containerID string) error {
	raw, err := json.Marshal(map[string]any{"cniVersion": cniVersion, "name": cniName(n), "plugins": []any{
		map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}, "snat": true},
	}})
	if err != nil {
		return err
	}
	list, err := libcni.ConfListFromBytes(raw)
	if err != nil {
		return err
	}
	rt := &libcni.RuntimeConf{ContainerID: containerID, IfName: "eth0", CapabilityArgs: map[string]any{
		"portMappings": []map[string]any{{"hostPort": 1, "containerPort": 1, "protocol": "tcp"}},
	}}
	if err := m.cni.DelNetworkList(ctx, list, rt); err != nil {
		return fmt.Errorf("network %s: %s", n.Name, cniMessage(err))
	}
	return nil
}

// cniMessage is a plugin's error without libcni's wrapping noise.
func cniMessage(err error) string {
	return strings.TrimSpace(err.Error())
}
