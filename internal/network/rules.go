package network

import (
	"fmt"
	"os/exec"
	"strings"
	"sync"
)

// Per-network iptables rules, in berthd's own chains: masquerading of
// what leaves a network for elsewhere, and forwarding to and from its
// bridge (accepted before a host FORWARD policy of DROP, as dockerd sets).
// Installed once per network and daemon run, removed with the network.
//
// Networks are kept apart as Docker does it, whatever their bridges are
// called: BERTH-FORWARD first sends what leaves any network's bridge for
// another interface to BERTH-ISOLATION-1, which passes it to
// BERTH-ISOLATION-2, which drops it if that interface is another
// network's bridge.
const (
	natChain     = "BERTH-POSTROUTING"
	forwardChain = "BERTH-FORWARD"
	isoChain1    = "BERTH-ISOLATION-1"
	isoChain2    = "BERTH-ISOLATION-2"
)

// ownChain says whether berthd made chain (and may create it).
func ownChain(chain string) bool {
	switch chain {
	case natChain, forwardChain, isoChain1, isoChain2:
		return true
	}
	return false
}

type ruleSet struct {
	mu   sync.Mutex
	done map[string]bool // network ID
}

func (m *Manager) ensureRules(n *Network) error {
	m.rules.mu.Lock()
	defer m.rules.mu.Unlock()
	if m.rules.done[n.ID] {
		return nil
	}
	for _, r := range networkRules(n) {
		if err := ensureRule(r); err != nil {
			return fmt.Errorf("network %s: %w", n.Name, err)
		}
	}
	m.rules.done[n.ID] = true
	return nil
}

func (m *Manager) removeRules(n *Network) {
	m.rules.mu.Lock()
	defer m.rules.mu.Unlock()
	delete(m.rules.done, n.ID)
	for _, r := range networkRules(n) {
		if ownChain(r.chain) && !r.shared {
			ipt(r.v6, append([]string{"-t", r.table, "-D", r.chain}, r.args...)...)
		}
	}
}

type rule struct {
	v6           bool
	table, chain string
	args         []string
	insert       bool // at the top of the chain
	shared       bool // every network's: stays when one is removed
}

func networkRules(n *Network) []rule {
	var rs []rule
	comment := []string{"-m", "comment", "--comment", "berth network " + n.Name}
	for _, v6 := range []bool{false, true} {
		var subnets []string
		for _, s := range n.Subnets {
			if s.Subnet.Addr().Is6() == v6 {
				subnets = append(subnets, s.Subnet.String())
			}
		}
		if len(subnets) == 0 {
			continue
		}
		rs = append(rs,
			rule{v6: v6, table: "nat", chain: "POSTROUTING", args: []string{"-j", natChain}, shared: true},
			rule{v6: v6, table: "filter", chain: "FORWARD", args: []string{"-j", forwardChain}, insert: true, shared: true},
			rule{v6: v6, table: "filter", chain: forwardChain, args: []string{"-j", isoChain1}, insert: true, shared: true},
		)
		br := n.Bridge
		if n.Internal {
			rs = append(rs,
				rule{v6: v6, table: "filter", chain: forwardChain, args: append([]string{"-i", br, "-o", br, "-j", "ACCEPT"}, comment...)},
				rule{v6: v6, table: "filter", chain: forwardChain, args: append([]string{"-i", br, "-j", "DROP"}, comment...)},
				rule{v6: v6, table: "filter", chain: forwardChain, args: append([]string{"-o", br, "-j", "DROP"}, comment...)},
			)
			continue
		}
		for _, s := range subnets {
			rs = append(rs, rule{v6: v6, table: "nat", chain: natChain, args: append([]string{"-s", s, "!", "-d", s, "!", "-o", br, "-j", "MASQUERADE"}, comment...)})
		}
		// Networks are apart, as Docker's are: nothing is forwarded from
		// this bridge to another network's, nor from another to this one
		// (the isolation chains); everything else from it is.
		rs = append(rs,
			rule{v6: v6, table: "filter", chain: isoChain1, args: append([]string{"-i", br, "!", "-o", br, "-j", isoChain2}, comment...)},
			rule{v6: v6, table: "filter", chain: isoChain2, args: append([]string{"-o", br, "-j", "DROP"}, comment...)},
			rule{v6: v6, table: "filter", chain: forwardChain, args: append([]string{"-i", br, "-o", br, "-j", "ACCEPT"}, comment...)},
			rule{v6: v6, table: "filter", chain: forwardChain, args: append([]string{"-i", br, "-j", "ACCEPT"}, comment...)},
			rule{v6: v6, table: "filter", chain: forwardChain, args: append([]string{"-o", br, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED,DNAT", "-j", "ACCEPT"}, comment...)},
		)
	}
	return rs
}

// ensureRule adds r (and the chains of ours it is in or jumps to) unless
// present.
func ensureRule(r rule) error {
	chains := []string{}
	if ownChain(r.chain) {
		chains = append(chains, r.chain)
	}
	for i, a := range r.args {
		if a == "-j" && i+1 < len(r.args) && ownChain(r.args[i+1]) {
			chains = append(chains, r.args[i+1])
		}
	}
	for _, c := range chains {
		if ipt(r.v6, "-t", r.table, "-n", "-L", c) != nil {
			if err := ipt(r.v6, "-t", r.table, "-N", c); err != nil {
				return err
			}
		}
	}
	if ipt(r.v6, append([]string{"-t", r.table, "-C", r.chain}, r.args...)...) == nil {
		return nil
	}
	op := []string{"-t", r.table, "-A", r.chain}
	if r.insert {
		op = []string{"-t", r.table, "-I", r.chain, "1"}
	}
	return ipt(r.v6, append(op, r.args...)...)
}

func ipt(v6 bool, args ...string) error {
	bin := "iptables"
	if v6 {
		bin = "ip6tables"
	}
	out, err := exec.Command(bin, append([]string{"-w"}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", bin, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
