// Package network_test drives internal/network against the real kernel,
// the real CNI plugins and iptables: namespaces, bridges, veths, leases,
// published ports and the per-network DNS server. The tests need root.
package network_test

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/metadata"
	"github.com/berth-dev/berth/internal/network"
	"github.com/berth-dev/berth/internal/testutil"
)

func newManager(t *testing.T) *network.Manager {
	t.Helper()
	testutil.RequireRoot(t)
	dir := t.TempDir()
	db, err := metadata.Open(filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	m := &network.Manager{Meta: db, State: filepath.Join(dir, "run")}
	if err := m.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

// inNS runs a command in a pinned network namespace.
func inNS(t *testing.T, ns string, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command("nsenter", append([]string{"--net=" + ns}, args...)...).CombinedOutput()
	return string(out), err
}

func TestNetworkLifecycle(t *testing.T) {
	m := newManager(t)
	ctx := context.Background()
	n, err := m.Create(network.CreateRequest{Name: "itnet", Subnets: []network.Subnet{{Subnet: netip.MustParsePrefix("10.199.7.0/24")}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Remove(n.ID, nil) })
	if _, err := m.Create(network.CreateRequest{Name: "itnet"}); !errdefs.IsConflict(err) {
		t.Errorf("duplicate name: %v", err)
	}
	if _, err := m.Create(network.CreateRequest{Name: "other", Subnets: []network.Subnet{{Subnet: netip.MustParsePrefix("10.199.0.0/16")}}}); !errdefs.IsConflict(err) || !strings.Contains(err.Error(), "overlaps") {
		t.Errorf("overlapping subnet: %v", err)
	}
	id1, id2 := strings.Repeat("a", 64), strings.Repeat("b", 64)
	atts, ports, err := m.Setup(ctx, id1, []network.Endpoint{{Network: n, Request: network.Request{Names: []string{"web"}, Aliases: []string{"www"}}}},
		[]network.PortMapping{{ContainerPort: 80, Protocol: "tcp"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(atts) != 1 || !n.Subnets[0].Subnet.Contains(atts[0].IPv4().Addr()) || atts[0].MAC == "" {
		t.Fatalf("attachment %+v", atts)
	}
	if len(ports) != 1 || ports[0].HostPort == 0 {
		t.Fatalf("ports %+v", ports)
	}
	t.Logf("container 1: %v, port %d", atts[0].IPv4(), ports[0].HostPort)
	out, err := inNS(t, m.NetNSPath(id1), "ip", "-4", "addr", "show", "eth0")
	if err != nil || !strings.Contains(out, atts[0].IPv4().String()) {
		t.Errorf("eth0 in the namespace: %v: %s", err, out)
	}
	atts2, _, err := m.Setup(ctx, id2, []network.Endpoint{{Network: n, Request: network.Request{Names: []string{"client"}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Names resolve through the network's DNS server, from the network.
	gw := n.Subnets[0].Gateway.String()
	for _, name := range []string{"web", "www"} {
		out, err = inNS(t, m.NetNSPath(id2), "busybox", "nslookup", name, gw)
		if err != nil || !strings.Contains(out, atts[0].IPv4().Addr().String()) {
			t.Errorf("nslookup %s: %v: %s", name, err, out)
		}
	}
	if out, err = inNS(t, m.NetNSPath(id2), "busybox", "nslookup", "nosuchname", gw); err == nil {
		t.Errorf("nslookup of an unknown name succeeded: %s", out)
	}
	if out, err = inNS(t, m.NetNSPath(id2), "busybox", "ping", "-c1", "-W2", atts[0].IPv4().Addr().String()); err != nil {
		t.Errorf("container to container: %v: %s", err, out)
	}
	// The published port is taken for anyone else.
	if _, _, err := m.Setup(ctx, strings.Repeat("c", 64), []network.Endpoint{{Network: n}},
		[]network.PortMapping{{HostPort: ports[0].HostPort, ContainerPort: 80, Protocol: "tcp"}}); !errdefs.IsConflict(err) || !strings.Contains(err.Error(), "already allocated") {
		t.Errorf("port taken twice: %v", err)
	}
	if _, err := os.Stat(m.NetNSPath(strings.Repeat("c", 64))); !os.IsNotExist(err) {
		t.Errorf("failed setup left its namespace: %v", err)
	}
	if err := m.Remove(n.ID, []string{id1}); !errdefs.IsPermissionDenied(err) {
		t.Errorf("remove in use: %v", err)
	}
	for i, id := range []string{id1, id2} {
		a := [][]network.Attachment{atts, atts2}[i]
		if err := m.Teardown(ctx, id, a, map[int][]network.PortMapping{0: ports}[i]); err != nil {
			t.Errorf("teardown: %v", err)
		}
	}
	if left := m.Leftovers(); len(left) != 0 {
		t.Errorf("namespaces left: %v", left)
	}
	leases, _ := filepath.Glob(filepath.Join(m.State, "ipam", "*", "10.*"))
	if len(leases) != 0 {
		t.Errorf("IPAM leases left: %v", leases)
	}
	if err := m.Remove("itnet", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Get("itnet"); !errdefs.IsNotFound(err) {
		t.Errorf("after remove: %v", err)
	}
}
