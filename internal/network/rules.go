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
const (
	natChain     = "BERTH-POSTROUTING"
	forwardChain = "BERTH-FORWARD"
)

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
		if r.chain == natChain || r.chain == forwardChain {
			ipt(r.v6, append([]string{"-t", r.table, "-D", r.chain}, r.args...)...)
		}
	}
}

type rule struct {
	v6           bool
	table, chain string
	args         []string
	insert       bool // at the top of the chain
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
			rule{v6: v6, table: "nat", chain: "POSTROUTING", args: []string{"-j", natChain}},
			rule{v6: v6, table: "filter", chain: "FORWARD", args: []string{"-j", forwardChain}, insert: true},
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
		// this bridge to another network's (user networks are br-*, the
		// default one berth*), then everything else from it is.
		rs = append(rs,
			rule{v6: v6, table: "filter", chain: forwardChain, args: append([]string{"-i", br, "-o", br, "-j", "ACCEPT"}, comment...)},
			rule{v6: v6, table: "filter", chain: forwardChain, args: append([]string{"-i", br, "-o", "br-+", "-j", "DROP"}, comment...)},
			rule{v6: v6, table: "filter", chain: forwardChain, args: append([]string{"-i", br, "-o", "berth+", "-j", "DROP"}, comment...)},
			rule{v6: v6, table: "filter", chain: forwardChain, args: append([]string{"-i", br, "-j", "ACCEPT"}, comment...)},
			rule{v6: v6, table: "filter", chain: forwardChain, args: append([]string{"-o", br, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED,DNAT", "-j", "ACCEPT"}, comment...)},
		)
	}
	return rs
}

// ensureRule adds r (and its chain) unless present.
func ensureRule(r rule) error {
	if r.chain == natChain || r.chain == forwardChain {
		if ipt(r.v6, "-t", r.table, "-n", "-L", r.chain) != nil {
			if err := ipt(r.v6, "-t", r.table, "-N", r.chain); err != nil {
				return err
			}
		}
	}
	if r.chain != natChain && r.chain != forwardChain {
		// A jump into our chain from a built-in one.
		if ipt(r.v6, append([]string{"-t", r.table, "-n", "-L", r.args[1]}, []string{}...)...) != nil {
			if err := ipt(r.v6, "-t", r.table, "-N", r.args[1]); err != nil {
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
