package network

import (
	"os/exec"
	"regexp"
	"strings"
)

// The CNI plugins (bridge's masquerading, portmap's DNAT and SNAT) tag
// every nat rule they make for an endpoint with `name: "<network>" id:
// "<container>"`, and their DEL finds the rules again from the endpoint
// (its address, its ports). A DEL that could not run to its end (the
// daemon killed in the middle of a teardown, the namespace gone first)
// leaves rules that nothing finds again: recovery learns of leftover
// endpoints from their namespace pins only. SweepRules finds them by
// their tag instead.

// cniTag is the tag the plugins put in their rules' comments.
var cniTag = regexp.MustCompile(`name: \\?"(berth-[0-9a-f]+)\\?" id: \\?"([^"\\]+)\\?"`)

// sharedCNIChains are the chains portmap shares between endpoints.
func sharedCNIChain(c string) bool { return strings.HasPrefix(c, "CNI-HOSTPORT-") }

// SweepRules deletes the nat rules the CNI plugins made for endpoints on
// this daemon's networks of containers that known says are gone, and the
// per-endpoint chains they jump to. Rules of other networks (another
// berthd's on the same host, podman's, a kubelet's CNI config) are not
// touched.
func (m *Manager) SweepRules(known func(containerID string) bool) {
	nets, err := m.List()
	if err != nil {
		return
	}
	own := map[string]bool{}
	for i := range nets {
		own[cniName(&nets[i])] = true
	}
	orphan := func(network, id string) bool { return own[network] && !known(id) }
	for _, v6 := range []bool{false, true} {
		bin := "iptables"
		if v6 {
			bin = "ip6tables"
		}
		out, err := exec.Command(bin, "-w", "-t", "nat", "-S").Output()
		if err != nil {
			continue
		}
		rules, chains := orphanRules(string(out), orphan)
		for _, r := range rules {
			if err := ipt(v6, append([]string{"-t", "nat", "-D"}, r...)...); err != nil {
				m.Log.Warn("remove a leftover CNI rule", "err", err)
			}
		}
		for _, c := range chains {
			ipt(v6, "-t", "nat", "-F", c)
			if err := ipt(v6, "-t", "nat", "-X", c); err != nil {
				m.Log.Warn("remove a leftover CNI chain", "chain", c, "err", err)
			}
		}
		if len(rules) > 0 {
			m.Log.Info("removed leftover CNI rules of removed containers", "rules", len(rules), "chains", len(chains), "ipv6", v6)
		}
	}
}

// orphanRules picks from `iptables -t nat -S` output the rules whose CNI
// tag (a berth network's name, a container ID) orphan accepts, each as
// the arguments that follow -D, and the per-endpoint chains among their
// chains and targets (deleted once the rules are).
func orphanRules(save string, orphan func(network, id string) bool) (rules [][]string, chains []string) {
	seen := map[string]bool{}
	addChain := func(c string) {
		if strings.HasPrefix(c, "CNI-") && !sharedCNIChain(c) && !seen[c] {
			seen[c] = true
			chains = append(chains, c)
		}
	}
	for _, line := range strings.Split(save, "\n") {
		rest, ok := strings.CutPrefix(line, "-A ")
		if !ok {
			continue
		}
		m := cniTag.FindStringSubmatch(rest)
		if m == nil || !orphan(m[1], m[2]) {
			continue
		}
		args, ok := splitRule(rest)
		if !ok || len(args) < 2 {
			continue
		}
		rules = append(rules, args)
		addChain(args[0])
		for i := 1; i+1 < len(args); i++ {
			if args[i] == "-j" || args[i] == "-g" {
				addChain(args[i+1])
			}
		}
	}
	return rules, chains
}

// splitRule splits a rule as iptables -S prints it: words, with double
// quotes around an argument with spaces and \" for a quote inside.
func splitRule(s string) ([]string, bool) {
	var args []string
	var b strings.Builder
	in, started := false, false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case in && ch == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\'):
			i++
			b.WriteByte(s[i])
		case ch == '"':
			in, started = !in, true
		case !in && (ch == ' ' || ch == '\t'):
			if started {
				args = append(args, b.String())
				b.Reset()
				started = false
			}
		default:
			b.WriteByte(ch)
			started = true
		}
	}
	if in {
		return nil, false
	}
	if started {
		args = append(args, b.String())
	}
	return args, true
}
