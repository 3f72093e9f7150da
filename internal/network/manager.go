package network

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/containernetworking/cni/libcni"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/metadata"
)

var table = metadata.NewTable[Network]("networks", "network")

// The default network, and where user networks get their subnets when
// none is given: the /24s of 10.89.0.0/16, then of 10.90.0.0/16...
var (
	defaultSubnet = netip.MustParsePrefix("10.88.0.0/16")
	poolStart     = netip.MustParsePrefix("10.89.0.0/16")
	poolEnd       = netip.MustParsePrefix("10.127.0.0/16")
)

// DefaultBridge is the default network's bridge device.
const DefaultBridge = "berth0"

// Manager owns networks and containers' endpoints on them.
type Manager struct {
	Meta *metadata.DB
	// State holds pinned namespaces (netns/), IPAM leases (ipam/) and
	// CNI's cache (cache/): all of it is gone after a reboot, as the
	// endpoints are.
	State      string
	PluginDirs []string
	// DefaultBridge and DefaultSubnet shape the default network when it
	// is first created (berth0, and 10.88.0.0/16 or the next free /16 if
	// empty).
	DefaultBridge string
	DefaultSubnet string
	Log           *slog.Logger

	cni   *libcni.CNIConfig
	mu    sync.Mutex // networks: create and remove
	ports *portReserver
	dns   *dnsRegistry
	rules ruleSet

	pendingMu sync.Mutex
	pending   map[string]chan struct{} // container ID -> teardown in flight
}

// Init checks the plugins and creates the default network if needed.
func (m *Manager) Init(ctx context.Context) error {
	if m.Log == nil {
		m.Log = slog.New(slog.DiscardHandler)
	}
	if len(m.PluginDirs) == 0 {
		m.PluginDirs = DefaultPluginDirs
	}
	for _, d := range []string{m.netnsDir(), m.ipamDir(), m.cacheDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	m.cni = libcni.NewCNIConfigWithCacheDir(m.PluginDirs, m.cacheDir(), nil)
	m.ports = newPortReserver()
	m.pending = map[string]chan struct{}{}
	m.rules.done = map[string]bool{}
	m.dns = newDNSRegistry(m.Log)
	if _, err := m.findPlugin("bridge"); err != nil {
		m.Log.Warn("CNI plugins not found: containers can only use the none and host networks", "dirs", m.PluginDirs)
	}
	if err := checkIPTables(); err != nil {
		m.Log.Warn("iptables", "err", err)
	}
	def, err := m.Get(DefaultName)
	if err == nil {
		// The default network is made once; the configuration shapes only
		// that first time. Say so when it now asks for something else.
		if want, perr := netip.ParsePrefix(m.DefaultSubnet); m.DefaultSubnet != "" && perr == nil && len(def.Subnets) > 0 && def.Subnets[0].Subnet != want.Masked() {
			m.Log.Warn("the default network keeps the subnet it was created with",
				"subnet", def.Subnets[0].Subnet, "configured", want.Masked())
		}
		if m.DefaultBridge != "" && def.Bridge != m.DefaultBridge {
			m.Log.Warn("the default network keeps the bridge it was created with", "bridge", def.Bridge, "configured", m.DefaultBridge)
		}
	}
	if errdefs.IsNotFound(err) {
		subnet, bridge := defaultSubnet, DefaultBridge
		if m.DefaultBridge != "" {
			bridge = m.DefaultBridge
		}
		if m.DefaultSubnet != "" {
			if subnet, err = netip.ParsePrefix(m.DefaultSubnet); err != nil {
				return errdefs.InvalidArgument("default subnet %q: %v", m.DefaultSubnet, err)
			}
			subnet = subnet.Masked()
		} else {
			// 10.88.0.0/16 is also podman's default: a host where
			// another bridge routes it gets the next free /16.
			used := hostPrefixes(bridge)
			subnet = pickDefaultSubnet(used)
			if subnet != defaultSubnet {
				m.Log.Info("default network: 10.88.0.0/16 is in use on this host", "subnet", subnet)
			}
		}
		gw := subnet.Addr().Next()
		n := Network{ID: newID(), Name: DefaultName, Driver: DriverBridge, Bridge: bridge, Default: true,
			Subnets: []Subnet{{Subnet: subnet, Gateway: gw}}, Created: time.Now().UTC(),
			Options: map[string]string{"com.docker.network.bridge.name": bridge}}
		err = m.Meta.Update(func(tx *metadata.Tx) error { return table.Put(tx, n.ID, n) })
	}
	return err
}

// Close waits for teardowns in flight, stops the DNS servers and
// releases reserved ports.
func (m *Manager) Close() {
	m.waitPending("")
	if m.dns != nil {
		m.dns.closeAll()
	}
	if m.ports != nil {
		m.ports.releaseAll()
	}
}

func (m *Manager) netnsDir() string { return filepath.Join(m.State, "netns") }
func (m *Manager) cacheDir() string { return filepath.Join(m.State, "cache") }

// NetNSPath is where a container's network namespace is pinned.
func (m *Manager) NetNSPath(containerID string) string {
	return filepath.Join(m.netnsDir(), containerID)
}

func (m *Manager) findPlugin(name string) (string, error) {
	for _, d := range m.PluginDirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", errdefs.Unavailable("CNI plugin %q not found in %s (install containernetworking-plugins)", name, strings.Join(m.PluginDirs, ", "))
}

// List returns every network, the default first, then by name.
func (m *Manager) List() ([]Network, error) {
	var out []Network
	err := m.Meta.View(func(tx *metadata.Tx) error {
		return table.Each(tx, func(_ string, n Network) error {
			out = append(out, n)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool {
		if out[i].Default != out[j].Default {
			return out[i].Default
		}
		return out[i].Name < out[j].Name
	})
	return out, err
}

// Get finds a network by name, full ID or unique ID prefix.
func (m *Manager) Get(term string) (Network, error) {
	nets, err := m.List()
	if err != nil {
		return Network{}, err
	}
	for _, n := range nets {
		if n.Name == term || n.ID == term {
			return n, nil
		}
	}
	var found []Network
	if len(term) >= 1 {
		for _, n := range nets {
			if strings.HasPrefix(n.ID, term) {
				found = append(found, n)
			}
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return Network{}, errdefs.NotFound("network %s not found", term)
	}
	return Network{}, errdefs.InvalidArgument("network %s is ambiguous (%d matches found on name)", term, len(found))
}

// CreateRequest is berth network create.
type CreateRequest struct {
	Name     string
	Driver   string
	Subnets  []Subnet // Gateway may be zero: the subnet's first address
	IPv6     bool
	Internal bool
	Labels   map[string]string
	Options  map[string]string
}

// Create makes a user-defined bridge network. Its bridge comes up with
// the first container.
func (m *Manager) Create(req CreateRequest) (Network, error) {
	if req.Name == "" {
		return Network{}, errdefs.InvalidArgument("network name is empty")
	}
	if !validName.MatchString(req.Name) {
		return Network{}, errdefs.InvalidArgument("invalid network name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", req.Name)
	}
	if Builtin(req.Name) {
		return Network{}, errdefs.PermissionDenied("%s is a pre-defined network and cannot be created", req.Name)
	}
	if req.Driver != "" && req.Driver != DriverBridge {
		return Network{}, errdefs.NotFound("plugin %q not found: only the bridge network driver exists", req.Driver)
	}
	for k := range req.Options {
		switch k {
		case "com.docker.network.bridge.name", "com.docker.network.driver.mtu":
		default:
			return Network{}, errdefs.NotImplemented("network option %q is not supported", k)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	nets, err := m.List()
	if err != nil {
		return Network{}, err
	}
	for _, n := range nets {
		if n.Name == req.Name {
			return Network{}, errdefs.Conflict("network with name %s already exists", req.Name)
		}
	}
	n := Network{ID: newID(), Name: req.Name, Driver: DriverBridge, IPv6: req.IPv6, Internal: req.Internal,
		Labels: req.Labels, Options: req.Options, Created: time.Now().UTC()}
	n.Bridge = "br-" + n.ID[:12]
	if b := req.Options["com.docker.network.bridge.name"]; b != "" {
		if len(b) > 15 || strings.ContainsAny(b, "/ \t") {
			return Network{}, errdefs.InvalidArgument("invalid bridge name %q", b)
		}
		n.Bridge = b
	}
	used := usedPrefixes(nets)
	has4, has6 := false, false
	for _, s := range req.Subnets {
		if !s.Subnet.IsValid() {
			return Network{}, errdefs.InvalidArgument("invalid subnet")
		}
		s.Subnet = s.Subnet.Masked()
		if s.Subnet.Addr().Is4() && s.Subnet.Bits() > 30 || s.Subnet.Addr().Is6() && s.Subnet.Bits() > 126 {
			return Network{}, errdefs.InvalidArgument("subnet %s is too small", s.Subnet)
		}
		if !s.Gateway.IsValid() {
			s.Gateway = s.Subnet.Addr().Next()
		} else if !s.Subnet.Contains(s.Gateway) {
			return Network{}, errdefs.InvalidArgument("gateway %s is not in subnet %s", s.Gateway, s.Subnet)
		}
		for _, u := range used {
			if u.Overlaps(s.Subnet) {
				return Network{}, errdefs.Conflict("invalid pool request: Pool overlaps with other one on this address space (%s overlaps %s)", s.Subnet, u)
			}
		}
		used = append(used, s.Subnet)
		if s.Subnet.Addr().Is4() {
			has4 = true
		} else {
			has6 = true
		}
		n.Subnets = append(n.Subnets, s)
	}
	if has6 && !req.IPv6 {
		return Network{}, errdefs.InvalidArgument("an IPv6 subnet needs --ipv6")
	}
	if !has4 {
		p, err := freeSubnet(used)
		if err != nil {
			return Network{}, err
		}
		n.Subnets = append(n.Subnets, Subnet{Subnet: p, Gateway: p.Addr().Next()})
	}
	if req.IPv6 && !has6 {
		p := ulaSubnet()
		n.Subnets = append(n.Subnets, Subnet{Subnet: p, Gateway: p.Addr().Next()})
	}
	if err := m.Meta.Update(func(tx *metadata.Tx) error { return table.Put(tx, n.ID, n) }); err != nil {
		return Network{}, err
	}
	return n, nil
}

// usedPrefixes are the networks' subnets and the host's own addresses.
func usedPrefixes(nets []Network) []netip.Prefix {
	var out []netip.Prefix
	for _, n := range nets {
		for _, s := range n.Subnets {
			out = append(out, s.Subnet)
		}
	}
	return append(out, hostPrefixes("")...)
}

// hostPrefixes lists the subnets of the host's interfaces but the one
// named except. Every interface counts, bridges included: another daemon
// (a second berthd, docker, podman) may own one.
func hostPrefixes(except string) []netip.Prefix {
	var out []netip.Prefix
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		if i.Name == except {
			continue
		}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				if p, err := netip.ParsePrefix(ipn.String()); err == nil && !p.Addr().IsLoopback() && !p.Addr().IsLinkLocalUnicast() {
					out = append(out, p.Masked())
				}
			}
		}
	}
	return out
}

// pickDefaultSubnet returns 10.88.0.0/16 unless a used prefix overlaps it,
// then the first of 10.89.0.0/16 ... 10.99.0.0/16 that none overlaps (and
// 10.88.0.0/16 again if all are taken: the operator sets default_subnet).
func pickDefaultSubnet(used []netip.Prefix) netip.Prefix {
	for b := byte(88); b <= 99; b++ {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, b, 0, 0}), 16)
		free := true
		for _, u := range used {
			if u.Overlaps(p) {
				free = false
				break
			}
		}
		if free {
			return p
		}
	}
	return defaultSubnet
}

func freeSubnet(used []netip.Prefix) (netip.Prefix, error) {
	b := poolStart.Addr().As4()
	end := poolEnd.Addr().As4()
	for ; b[1] <= end[1]; b[1]++ {
		for c := 0; c < 256; c++ {
			b[2] = byte(c)
			p := netip.PrefixFrom(netip.AddrFrom4(b), 24)
			free := true
			for _, u := range used {
				if u.Overlaps(p) {
					free = false
					break
				}
			}
			if free {
				return p, nil
			}
		}
	}
	return netip.Prefix{}, errdefs.Unavailable("no free subnet left in %s-%s: give --subnet", poolStart, poolEnd)
}

// ulaSubnet is a random unique-local /64 (RFC 4193).
func ulaSubnet() netip.Prefix {
	id := newID()
	var b [16]byte
	b[0] = 0xfd
	for i := 1; i < 6; i++ {
		fmt.Sscanf(id[2*i:2*i+2], "%02x", &b[i])
	}
	return netip.PrefixFrom(netip.AddrFrom16(b), 64)
}

// Remove deletes a user network no container uses (inUse lists them).
func (m *Manager) Remove(term string, inUse []string) error {
	n, err := m.Get(term)
	if err != nil {
		return err
	}
	if Builtin(n.Name) {
		return errdefs.PermissionDenied("%s is a pre-defined network and cannot be removed", n.Name)
	}
	if len(inUse) > 0 {
		return errdefs.PermissionDenied("error while removing network: network %s id %s has active endpoints (%s)", n.Name, n.ID, strings.Join(inUse, ", "))
	}
	m.waitPending("")
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dns.stop(n.ID)
	m.removeRules(&n)
	if err := deleteLink(n.Bridge); err != nil {
		m.Log.Warn("remove bridge", "bridge", n.Bridge, "err", err)
	}
	os.RemoveAll(filepath.Join(m.ipamDir(), cniName(&n)))
	return m.Meta.Update(func(tx *metadata.Tx) error { return table.Delete(tx, n.ID) })
}

// Option changes how Setup and SetupExternal go about it.
type Option func(*setupOptions)

type setupOptions struct{ premade bool }

// PremadeNetNS says the caller has pinned the namespace at NetNSPath
// already (a pod's, owned by its user namespace, which this process
// cannot enter to make one); it is used as is, and removed on error like
// one made here.
func PremadeNetNS() Option { return func(o *setupOptions) { o.premade = true } }

// makeNetNS gives id its pinned namespace, unless the caller made it.
func (m *Manager) makeNetNS(id string, opts []Option) error {
	var o setupOptions
	for _, f := range opts {
		f(&o)
	}
	ns := m.NetNSPath(id)
	if o.premade {
		if err := loopbackUpIn(ns); err != nil {
			return err
		}
		return nil
	}
	RemoveNetNS(ns) // left by a crash
	return NewNetNS(ns)
}

// Endpoint is a container's wish for one network.
type Endpoint struct {
	Network Network
	Request Request
}

// Setup gives a container its network namespace and its endpoints, ports
// published on the first; on error nothing is left. ports with a zero
// HostPort get one chosen; the result has them all.
func (m *Manager) Setup(ctx context.Context, containerID string, eps []Endpoint, ports []PortMapping, opts ...Option) (atts []Attachment, bound []PortMapping, err error) {
	for _, ep := range eps {
		if _, err := m.findPlugin("bridge"); err != nil {
			return nil, nil, fmt.Errorf("network %s: %w", ep.Network.Name, err)
		}
		if ep.Network.Internal && len(ports) > 0 {
			ports = nil // Docker: nothing is published from an internal network
		}
		break
	}
	m.waitPending(containerID)
	bound, err = m.ports.reserve(containerID, ports)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			m.ports.release(containerID)
		}
	}()
	if err := m.makeNetNS(containerID, opts); err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			m.Teardown(context.WithoutCancel(ctx), containerID, atts, bound)
		}
	}()
	for i, ep := range eps {
		var p []PortMapping
		if i == 0 {
			p = bound
		}
		a, err := m.add(ctx, &ep.Network, containerID, fmt.Sprintf("eth%d", i), ep.Request, p)
		if err != nil {
			// DEL releases whatever the failed ADD took.
			m.del(context.WithoutCancel(ctx), &ep.Network, containerID, fmt.Sprintf("eth%d", i), p)
			return atts, bound, err
		}
		atts = append(atts, a)
		m.register(&ep.Network, containerID, a)
	}
	return atts, bound, nil
}

// register makes an endpoint's names resolvable on its network.
func (m *Manager) register(n *Network, containerID string, a Attachment) {
	if n.Default {
		return
	}
	if err := m.dns.add(n, containerID, a); err != nil {
		m.Log.Warn("network DNS", "network", n.Name, "err", err)
	}
}

// Teardown removes a container's endpoints, namespace and ports; it goes
// on past errors, and returns the first.
func (m *Manager) Teardown(ctx context.Context, containerID string, atts []Attachment, ports []PortMapping) error {
	var first error
	for i, a := range atts {
		n, err := m.Get(a.Network)
		if err != nil {
			continue // removed with a crash in between: nothing to call
		}
		m.dns.remove(n.ID, containerID)
		var p []PortMapping
		if i == 0 {
			p = ports
		}
		if err := m.del(ctx, &n, containerID, a.IfName, p); err != nil && first == nil {
			first = err
		}
	}
	if len(atts) == 0 {
		m.releaseLeases(containerID)
	}
	m.ports.release(containerID)
	if err := RemoveNetNS(m.NetNSPath(containerID)); err != nil && first == nil {
		first = err
	}
	return first
}

// TeardownLater is Teardown off the caller's path, for an endpoint set
// without published ports: its names stop resolving at once, and the CNI
// DEL calls (a few processes each) run in the background. Nothing is lost
// if the daemon dies first: a pinned namespace without a container is
// torn down at the next start (its veths go with it, and its addresses
// are released). Published ports have iptables rules of their own, so
// those endpoints are torn down before returning.
func (m *Manager) TeardownLater(containerID string, atts []Attachment, ports []PortMapping) {
	if len(ports) > 0 {
		m.Teardown(context.Background(), containerID, atts, ports)
		return
	}
	for _, a := range atts {
		m.dns.remove(a.Network, containerID)
	}
	m.waitPending(containerID)
	done := make(chan struct{})
	m.pendingMu.Lock()
	m.pending[containerID] = done
	m.pendingMu.Unlock()
	go func() {
		defer func() {
			m.pendingMu.Lock()
			delete(m.pending, containerID)
			m.pendingMu.Unlock()
			close(done)
		}()
		if err := m.Teardown(context.Background(), containerID, atts, nil); err != nil {
			m.Log.Warn("network teardown", "container", containerID, "err", err)
		}
	}()
}

// WaitTeardown waits until a background teardown of the container's
// endpoints (TeardownLater) is done.
func (m *Manager) WaitTeardown(containerID string) {
	if containerID != "" {
		m.waitPending(containerID)
	}
}

// waitPending waits for the teardown of a container's endpoints, or with
// "" for every teardown in flight.
func (m *Manager) waitPending(containerID string) {
	m.pendingMu.Lock()
	var chans []chan struct{}
	for id, c := range m.pending {
		if containerID == "" || id == containerID {
			chans = append(chans, c)
		}
	}
	m.pendingMu.Unlock()
	for _, c := range chans {
		<-c
	}
}

// Connect adds an endpoint to a running container's namespace.
func (m *Manager) Connect(ctx context.Context, containerID string, ep Endpoint, ifName string) (Attachment, error) {
	if _, err := m.findPlugin("bridge"); err != nil {
		return Attachment{}, err
	}
	a, err := m.add(ctx, &ep.Network, containerID, ifName, ep.Request, nil)
	if err != nil {
		m.del(context.WithoutCancel(ctx), &ep.Network, containerID, ifName, nil)
		return Attachment{}, err
	}
	m.register(&ep.Network, containerID, a)
	return a, nil
}

// Disconnect removes one endpoint from a running container.
func (m *Manager) Disconnect(ctx context.Context, containerID string, a Attachment) error {
	n, err := m.Get(a.Network)
	if err != nil {
		return err
	}
	m.dns.remove(n.ID, containerID)
	return m.del(ctx, &n, containerID, a.IfName, nil)
}

// Restore re-registers a running container's names and ports after a
// daemon restart.
func (m *Manager) Restore(containerID string, atts []Attachment, ports []PortMapping) {
	for _, a := range atts {
		if n, err := m.Get(a.Network); err == nil {
			m.register(&n, containerID, a)
		}
	}
	if _, err := m.ports.reserve(containerID, ports); err != nil {
		m.Log.Warn("re-reserve published ports", "container", containerID, "err", err)
	}
}

// ForgetPorts removes whatever published-port rules containerID may hold
// on any network, for an endpoint whose ports were never recorded (a crash
// between the CNI ADD and the container's commit): left, such a rule
// sends connections to its host port to an address nobody has.
func (m *Manager) ForgetPorts(ctx context.Context, containerID string) {
	nets, err := m.List()
	if err != nil {
		return
	}
	for i := range nets {
		if nets[i].Internal || nets[i].Driver != DriverBridge {
			continue
		}
		if err := m.delPorts(ctx, &nets[i], containerID); err != nil {
			m.Log.Warn("remove leftover port rules", "container", containerID, "err", err)
		}
	}
}

// Leftovers lists pinned namespaces, by container ID: after a crash, those
// of containers that are not running must be torn down.
func (m *Manager) Leftovers() []string {
	ents, _ := os.ReadDir(m.netnsDir())
	var ids []string
	for _, e := range ents {
		ids = append(ids, e.Name())
	}
	return ids
}

// releaseLeases drops the host-local leases a container holds when its
// endpoints were never recorded (a crash in the middle of a start):
// host-local keeps one file per address, holding the container ID.
func (m *Manager) releaseLeases(containerID string) {
	files, _ := filepath.Glob(filepath.Join(m.ipamDir(), "*", "*"))
	for _, f := range files {
		if strings.HasPrefix(filepath.Base(f), "last_reserved_ip") || strings.HasPrefix(filepath.Base(f), "lock") {
			continue
		}
		b, err := os.ReadFile(f)
		if err == nil && strings.HasPrefix(strings.TrimSpace(string(b)), containerID) {
			os.Remove(f)
		}
	}
}

// Ready reports why containers cannot get networks, if they cannot.
func (m *Manager) Ready() error {
	_, err := m.findPlugin("bridge")
	return err
}
