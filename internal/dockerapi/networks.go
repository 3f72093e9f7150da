package dockerapi

import (
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"strings"
	"time"

	nettypes "github.com/moby/moby/api/types/network"

	ctr "github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/events"
	"github.com/berth-dev/berth/internal/network"
)

func (s *Server) networkRoutes() {
	s.mux.HandleFunc("GET /networks", s.networkList)
	s.mux.HandleFunc("GET /networks/{id}", s.networkInspect)
	s.mux.HandleFunc("POST /networks/create", s.networkCreate)
	s.mux.HandleFunc("DELETE /networks/{id}", s.networkDelete)
	s.mux.HandleFunc("POST /networks/{id}/connect", s.networkConnect)
	s.mux.HandleFunc("POST /networks/{id}/disconnect", s.networkDisconnect)
	s.mux.HandleFunc("POST /networks/prune", s.networkPrune)
}

// The host and none networks are not CNI networks; the API shows them as
// Docker does, with stable IDs.
func builtinNetwork(name string) (nettypes.Inspect, bool) {
	if name != network.HostName && name != network.NoneName {
		return nettypes.Inspect{}, false
	}
	sum := sha256.Sum256([]byte("berth-network-" + name))
	return nettypes.Inspect{
		Network: nettypes.Network{Name: name, ID: hex.EncodeToString(sum[:]), Scope: "local", Driver: map[string]string{"host": "host", "none": "null"}[name],
			EnableIPv4: name == network.HostName, IPAM: nettypes.IPAM{Driver: "default", Config: []nettypes.IPAMConfig{}},
			Options: map[string]string{}, Labels: map[string]string{}, Created: time.Unix(0, 0).UTC()},
		Containers: map[string]nettypes.EndpointResource{},
	}, true
}

func (s *Server) allNetworks() ([]nettypes.Inspect, error) {
	nets, err := s.Networks.List()
	if err != nil {
		return nil, err
	}
	list, err := s.Containers.List()
	if err != nil {
		return nil, err
	}
	var out []nettypes.Inspect
	for i := range nets {
		out = append(out, toAPINetwork(&nets[i], list))
	}
	for _, name := range []string{network.HostName, network.NoneName} {
		n, _ := builtinNetwork(name)
		for _, c := range list {
			if c.State.Running() && string(c.HostConfig.NetworkMode) == name {
				n.Containers[c.ID] = nettypes.EndpointResource{Name: c.Name}
			}
		}
		out = append(out, n)
	}
	return out, nil
}

func toAPINetwork(n *network.Network, list []ctr.Container) nettypes.Inspect {
	in := nettypes.Inspect{
		Network: nettypes.Network{Name: n.Name, ID: n.ID, Created: n.Created, Scope: "local", Driver: n.Driver,
			EnableIPv4: true, EnableIPv6: n.IPv6, Internal: n.Internal, Attachable: false,
			IPAM:    nettypes.IPAM{Driver: "default", Options: map[string]string{}, Config: []nettypes.IPAMConfig{}},
			Options: n.Options, Labels: n.Labels},
		Containers: map[string]nettypes.EndpointResource{},
	}
	if in.Options == nil {
		in.Options = map[string]string{}
	}
	if n.Default {
		in.Options["com.docker.network.bridge.default_bridge"] = "true"
	}
	if in.Options["com.docker.network.bridge.name"] == "" {
		in.Options["com.docker.network.bridge.name"] = n.Bridge
	}
	if in.Labels == nil {
		in.Labels = map[string]string{}
	}
	for _, sn := range n.Subnets {
		in.IPAM.Config = append(in.IPAM.Config, nettypes.IPAMConfig{Subnet: sn.Subnet, Gateway: sn.Gateway})
	}
	for _, c := range list {
		if c.Net == nil {
			continue
		}
		for _, a := range c.Net.Attachments {
			if a.Network != n.ID {
				continue
			}
			er := nettypes.EndpointResource{Name: c.Name, EndpointID: a.EndpointID, IPv4Address: a.IPv4(), IPv6Address: a.IPv6()}
			if hw, err := net.ParseMAC(a.MAC); err == nil {
				er.MacAddress = nettypes.HardwareAddr(hw)
			}
			in.Containers[c.ID] = er
		}
	}
	return in
}

func (s *Server) findNetwork(term string) (nettypes.Inspect, error) {
	all, err := s.allNetworks()
	if err != nil {
		return nettypes.Inspect{}, err
	}
	for _, n := range all {
		if n.Name == term || n.ID == term {
			return n, nil
		}
	}
	var found []nettypes.Inspect
	for _, n := range all {
		if strings.HasPrefix(n.ID, term) {
			found = append(found, n)
		}
	}
	if len(found) == 1 {
		return found[0], nil
	}
	if len(found) > 1 {
		return nettypes.Inspect{}, errdefs.InvalidArgument("network %s is ambiguous (%d matches found based on ID prefix)", term, len(found))
	}
	return nettypes.Inspect{}, errdefs.NotFound("network %s not found", term)
}

func (s *Server) networkList(w http.ResponseWriter, r *http.Request) {
	f, err := filters(r)
	if err != nil {
		writeError(w, err)
		return
	}
	all, err := s.allNetworks()
	if err != nil {
		writeError(w, err)
		return
	}
	out := []nettypes.Inspect{}
	for _, n := range all {
		if matchNetwork(f, n) {
			if !boolParam(r, "verbose") {
				n.Containers = map[string]nettypes.EndpointResource{}
			}
			out = append(out, n)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func matchNetwork(f map[string][]string, n nettypes.Inspect) bool {
	anyOf := func(key string, ok func(v string) bool) bool {
		vs, set := f[key]
		if !set {
			return true
		}
		for _, v := range vs {
			if ok(v) {
				return true
			}
		}
		return false
	}
	builtin := n.Name == network.DefaultName || n.Name == network.HostName || n.Name == network.NoneName
	return anyOf("name", func(v string) bool { return strings.Contains(n.Name, v) }) &&
		anyOf("id", func(v string) bool { return strings.HasPrefix(n.ID, v) }) &&
		anyOf("driver", func(v string) bool { return n.Driver == v }) &&
		anyOf("type", func(v string) bool { return (v == "builtin") == builtin && (v == "builtin" || v == "custom") }) &&
		anyOf("dangling", func(v string) bool { return (v == "true" || v == "1") == (len(n.Containers) == 0 && !builtin) }) &&
		anyOf("label", func(v string) bool {
			k, val, hasVal := strings.Cut(v, "=")
			got, ok := n.Labels[k]
			return ok && (!hasVal || got == val)
		})
}

func (s *Server) networkInspect(w http.ResponseWriter, r *http.Request) {
	n, err := s.findNetwork(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, n)
}

func (s *Server) networkCreate(w http.ResponseWriter, r *http.Request) {
	var req nettypes.CreateRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if req.ConfigOnly || req.ConfigFrom != nil || req.Ingress || (req.Scope != "" && req.Scope != "local") {
		writeError(w, errdefs.NotImplemented("swarm and config-only networks are not supported"))
		return
	}
	cr := network.CreateRequest{Name: req.Name, Driver: req.Driver, Internal: req.Internal, Labels: req.Labels, Options: req.Options}
	if req.EnableIPv6 != nil {
		cr.IPv6 = *req.EnableIPv6
	}
	if req.IPAM != nil {
		if d := req.IPAM.Driver; d != "" && d != "default" {
			writeError(w, errdefs.NotImplemented("IPAM driver %q is not supported", d))
			return
		}
		for _, c := range req.IPAM.Config {
			if c.IPRange.IsValid() || len(c.AuxAddress) > 0 {
				writeError(w, errdefs.NotImplemented("--ip-range and --aux-address are not supported"))
				return
			}
			if !c.Subnet.IsValid() {
				writeError(w, errdefs.InvalidArgument("IPAM config without a subnet"))
				return
			}
			cr.Subnets = append(cr.Subnets, network.Subnet{Subnet: c.Subnet, Gateway: c.Gateway})
		}
	}
	n, err := s.Networks.Create(cr)
	if err != nil {
		writeError(w, err)
		return
	}
	if s.Events != nil {
		s.Events.Publish(networkEvent("create", &n))
	}
	writeJSON(w, http.StatusCreated, nettypes.CreateResponse{ID: n.ID})
}

func (s *Server) networkDelete(w http.ResponseWriter, r *http.Request) {
	if err := s.removeNetwork(r.PathValue("id")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) removeNetwork(term string) error {
	if _, ok := builtinNetwork(term); ok {
		return errdefs.PermissionDenied("%s is a pre-defined network and cannot be removed", term)
	}
	n, err := s.Networks.Get(term)
	if err != nil {
		return err
	}
	if err := s.Networks.Remove(n.ID, s.Containers.NetworkUsers(n.ID)); err != nil {
		return err
	}
	if s.Events != nil {
		s.Events.Publish(networkEvent("destroy", &n))
	}
	return nil
}

func (s *Server) networkConnect(w http.ResponseWriter, r *http.Request) {
	var req nettypes.ConnectRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if req.Container == "" {
		writeError(w, errdefs.InvalidArgument("no container given"))
		return
	}
	if err := s.Containers.Connect(r.Context(), req.Container, r.PathValue("id"), req.EndpointConfig); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) networkDisconnect(w http.ResponseWriter, r *http.Request) {
	var req nettypes.DisconnectRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if err := s.Containers.Disconnect(r.Context(), req.Container, r.PathValue("id")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) networkPrune(w http.ResponseWriter, r *http.Request) {
	f, err := filters(r)
	if err != nil {
		writeError(w, err)
		return
	}
	nets, err := s.Networks.List()
	if err != nil {
		writeError(w, err)
		return
	}
	deleted := []string{}
	for _, n := range nets {
		if n.Default || len(s.Containers.NetworkUsers(n.ID)) > 0 {
			continue
		}
		if labels, ok := f["label"]; ok && !matchNetwork(map[string][]string{"label": labels}, nettypes.Inspect{Network: nettypes.Network{Labels: n.Labels}}) {
			continue
		}
		if until := f["until"]; len(until) > 0 {
			if t, err := parseUntil(until[0]); err == nil && n.Created.After(t) {
				continue
			}
		}
		if err := s.removeNetwork(n.ID); err == nil {
			deleted = append(deleted, n.Name)
		}
	}
	writeJSON(w, http.StatusOK, nettypes.PruneReport{NetworksDeleted: deleted})
}

// parseUntil reads a prune "until" filter: a timestamp or a duration ago.
func parseUntil(v string) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		return time.Now().Add(-d), nil
	}
	return time.Parse(time.RFC3339, v)
}

// endpointSettings is a container's view of one of its networks, for
// inspect.
func endpointSettings(c *ctr.Container, es *nettypes.EndpointSettings) *nettypes.EndpointSettings {
	out := es.Copy()
	if out.Aliases == nil {
		out.Aliases = []string{}
	}
	if c.Net == nil {
		return out
	}
	for _, a := range c.Net.Attachments {
		if a.Network != es.NetworkID {
			continue
		}
		out.EndpointID = a.EndpointID
		if p := a.IPv4(); p.IsValid() {
			out.IPAddress, out.IPPrefixLen = p.Addr(), p.Bits()
		}
		if p := a.IPv6(); p.IsValid() {
			out.GlobalIPv6Address, out.GlobalIPv6PrefixLen = p.Addr(), p.Bits()
		}
		for _, g := range a.Gateways {
			if g.Is4() {
				out.Gateway = g
			} else {
				out.IPv6Gateway = g
			}
		}
		if hw, err := net.ParseMAC(a.MAC); err == nil {
			out.MacAddress = nettypes.HardwareAddr(hw)
		}
		out.DNSNames = append(append([]string{}, a.DNSNames...), a.Aliases...)
	}
	return out
}

func networkEvent(action string, n *network.Network) events.Event {
	return events.Event{Type: "network", Action: action, ID: n.ID, Attributes: map[string]string{"name": n.Name, "type": n.Driver}}
}
