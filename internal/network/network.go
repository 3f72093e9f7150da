// Package network gives containers their networks: CNI bridge networks
// (the default "bridge" and user-defined ones) recorded in the metadata
// store, network namespaces pinned under /run/berth/netns, published
// ports through the portmap plugin, and a DNS server per user network
// that answers for the containers on it.
package network

import (
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"regexp"
	"time"
)

// Drivers and the names Docker reserves.
const (
	DriverBridge = "bridge"
	DefaultName  = "bridge" // the default network, as Docker calls it
	HostName     = "host"
	NoneName     = "none"
)

// Network is one CNI bridge network.
type Network struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Driver   string            `json:"driver"`
	Bridge   string            `json:"bridge"` // the host's bridge device
	Subnets  []Subnet          `json:"subnets"`
	IPv6     bool              `json:"ipv6,omitempty"`
	Internal bool              `json:"internal,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	Options  map[string]string `json:"options,omitempty"`
	Created  time.Time         `json:"created"`
	// Default marks the default network: no name resolution on it, as
	// in Docker; containers there use the host's resolvers.
	Default bool `json:"default,omitempty"`
}

// Subnet is one address range of a network and its gateway (the bridge's
// address).
type Subnet struct {
	Subnet  netip.Prefix `json:"subnet"`
	Gateway netip.Addr   `json:"gateway"`
}

// Gateway4 returns the network's IPv4 gateway, if any.
func (n *Network) Gateway4() netip.Addr {
	for _, s := range n.Subnets {
		if s.Gateway.Is4() {
			return s.Gateway
		}
	}
	return netip.Addr{}
}

// Builtin reports whether name is one of Docker's predefined networks.
func Builtin(name string) bool { return name == DefaultName || name == HostName || name == NoneName }

var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

func newID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Attachment is a container's endpoint on one network, as CNI made it.
type Attachment struct {
	Network  string         `json:"network"` // network ID
	IfName   string         `json:"ifName"`
	IPs      []netip.Prefix `json:"ips"`
	Gateways []netip.Addr   `json:"gateways,omitempty"`
	MAC      string         `json:"mac,omitempty"`
	Aliases  []string       `json:"aliases,omitempty"`
	DNSNames []string       `json:"dnsNames,omitempty"`
	// Upstreams are the resolvers the network's DNS server forwards this
	// endpoint's other queries to (--dns), instead of the host's.
	Upstreams  []string `json:"upstreams,omitempty"`
	EndpointID string   `json:"endpointID"`
}

// IPv4 returns the attachment's IPv4 address and prefix, if any.
func (a *Attachment) IPv4() netip.Prefix {
	for _, p := range a.IPs {
		if p.Addr().Is4() {
			return p
		}
	}
	return netip.Prefix{}
}

// IPv6 returns the attachment's IPv6 address and prefix, if any.
func (a *Attachment) IPv6() netip.Prefix {
	for _, p := range a.IPs {
		if p.Addr().Is6() {
			return p
		}
	}
	return netip.Prefix{}
}

// PortMapping is one published port.
type PortMapping struct {
	HostIP   string `json:"hostIP,omitempty"` // "" for every address
	HostPort int    `json:"hostPort"`
	// HostPortEnd, if set, makes HostPort..HostPortEnd a range to take the
	// first free port of (docker run -p 8000-8010:80).
	HostPortEnd   int    `json:"hostPortEnd,omitempty"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"` // tcp, udp or sctp
}

// Request is what a container asks of one network.
type Request struct {
	IP      netip.Addr // --ip, or zero
	IP6     netip.Addr
	MAC     string   // --mac-address, or ""
	Aliases []string // --network-alias
	// Names the DNS server answers with this endpoint's addresses: the
	// container's name and its short ID, then the aliases.
	Names []string
	// DNS are the container's own resolvers (--dns), which the network's
	// DNS server forwards its queries to.
	DNS []string
}
