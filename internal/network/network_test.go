package network

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

func TestFreeSubnet(t *testing.T) {
	for _, tc := range []struct {
		used []string
		want string
	}{
		{nil, "10.89.0.0/24"},
		{[]string{"10.89.0.0/24"}, "10.89.1.0/24"},
		{[]string{"10.89.0.0/16"}, "10.90.0.0/24"},
		{[]string{"10.0.0.0/8"}, ""},
	} {
		var used []netip.Prefix
		for _, u := range tc.used {
			used = append(used, netip.MustParsePrefix(u))
		}
		got, err := freeSubnet(used)
		if tc.want == "" {
			if err == nil {
				t.Errorf("used %v: got %v, want an error", tc.used, got)
			}
			continue
		}
		if err != nil || got.String() != tc.want {
			t.Errorf("used %v: got %v %v, want %s", tc.used, got, err, tc.want)
		}
	}
}

func TestULASubnet(t *testing.T) {
	p := ulaSubnet()
	if p.Bits() != 64 || p.Addr().As16()[0] != 0xfd || !netip.MustParsePrefix("fd00::/8").Contains(p.Addr()) {
		t.Errorf("ulaSubnet() = %v", p)
	}
	if q := ulaSubnet(); q == p {
		t.Errorf("two ULA subnets are the same: %v", p)
	}
}

func TestConfList(t *testing.T) {
	m := &Manager{State: "/run/x"}
	n := &Network{ID: strings.Repeat("ab", 32), Name: "n", Bridge: "br-x",
		Subnets: []Subnet{{Subnet: netip.MustParsePrefix("10.1.0.0/24"), Gateway: netip.MustParseAddr("10.1.0.1")}}}
	for _, tc := range []struct {
		internal, ports bool
		plugins         []string
		routes          int
	}{
		{false, false, []string{"bridge"}, 1},
		{false, true, []string{"bridge", "portmap"}, 1},
		{true, true, []string{"bridge"}, 0},
	} {
		n.Internal = tc.internal
		l, err := m.confList(n, tc.ports)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range l.Plugins {
			got = append(got, p.Network.Type)
		}
		if strings.Join(got, ",") != strings.Join(tc.plugins, ",") {
			t.Errorf("internal %v ports %v: plugins %v, want %v", tc.internal, tc.ports, got, tc.plugins)
		}
		var conf struct {
			IPMasq bool `json:"ipMasq"`
			IPAM   struct {
				Routes  []any  `json:"routes"`
				DataDir string `json:"dataDir"`
			} `json:"ipam"`
		}
		json.Unmarshal(l.Plugins[0].Bytes, &conf)
		if conf.IPMasq || len(conf.IPAM.Routes) != tc.routes || conf.IPAM.DataDir != "/run/x/ipam" {
			t.Errorf("internal %v: bridge conf %+v", tc.internal, conf)
		}
	}
}

func TestNetworkRules(t *testing.T) {
	n := &Network{Name: "n", Bridge: "br-x", Subnets: []Subnet{{Subnet: netip.MustParsePrefix("10.1.0.0/24")}, {Subnet: netip.MustParsePrefix("fd00::/64")}}}
	rs := networkRules(n)
	var masq, v6 int
	for _, r := range rs {
		if strings.Contains(strings.Join(r.args, " "), "MASQUERADE") {
			masq++
		}
		if r.v6 {
			v6++
		}
	}
	if masq != 2 || v6 == 0 {
		t.Errorf("rules %+v", rs)
	}
	n.Internal = true
	for _, r := range networkRules(n) {
		if strings.Contains(strings.Join(r.args, " "), "MASQUERADE") {
			t.Errorf("internal network masquerades: %+v", r)
		}
	}
}

func query(t testing.TB, name string, typ dnsmessage.Type) []byte {
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 7, RecursionDesired: true})
	b.StartQuestions()
	b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: typ, Class: dnsmessage.ClassINET})
	out, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDNSAnswer(t *testing.T) {
	s := &dnsServer{entries: map[string]dnsEntry{}}
	s.set("c1", []string{"web", "www"}, []netip.Addr{netip.MustParseAddr("10.1.0.2"), netip.MustParseAddr("fd00::2")}, nil)
	for _, tc := range []struct {
		name  string
		typ   dnsmessage.Type
		rcode dnsmessage.RCode
		ips   int
	}{
		{"web.", dnsmessage.TypeA, dnsmessage.RCodeSuccess, 1},
		{"WWW.", dnsmessage.TypeAAAA, dnsmessage.RCodeSuccess, 1},
		{"other.", dnsmessage.TypeA, dnsmessage.RCodeServerFailure, 0}, // no upstream to forward to
	} {
		resp := s.answer(query(t, tc.name, tc.typ), "udp", netip.Addr{})
		var p dnsmessage.Parser
		h, err := p.Start(resp)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		p.SkipAllQuestions()
		ans, _ := p.AllAnswers()
		if h.ID != 7 || !h.Response || h.RCode != tc.rcode || len(ans) != tc.ips {
			t.Errorf("%s %v: header %+v, %d answers", tc.name, tc.typ, h, len(ans))
		}
	}
	s.set("c1", nil, nil, nil)
	if _, ok := s.lookup("web"); ok {
		t.Errorf("web still known after removal")
	}
}

// FuzzDNSAnswer feeds the per-network DNS server what a container may send.
func FuzzDNSAnswer(f *testing.F) {
	f.Add(query(f, "web.", dnsmessage.TypeA))
	f.Add(query(f, "x.example.", dnsmessage.TypeAAAA))
	f.Add([]byte{0, 1, 0, 0, 0, 1})
	s := &dnsServer{entries: map[string]dnsEntry{"c": {names: []string{"web"}, ips: []netip.Addr{netip.MustParseAddr("10.0.0.2")}}}}
	f.Fuzz(func(t *testing.T, q []byte) {
		resp := s.answer(q, "udp", netip.Addr{})
		if resp == nil {
			return
		}
		var p dnsmessage.Parser
		if h, err := p.Start(resp); err != nil || !h.Response {
			t.Fatalf("answer is not a response: %v", err)
		}
	})
}

func TestPickDefaultSubnet(t *testing.T) {
	p := netip.MustParsePrefix
	for _, tc := range []struct {
		used []netip.Prefix
		want string
	}{
		{nil, "10.88.0.0/16"},
		{[]netip.Prefix{p("192.168.1.0/24"), p("172.17.0.0/16")}, "10.88.0.0/16"},
		{[]netip.Prefix{p("10.88.0.0/16")}, "10.89.0.0/16"}, // podman's cni-podman0
		{[]netip.Prefix{p("10.88.7.0/24")}, "10.89.0.0/16"}, // part of it
		{[]netip.Prefix{p("10.0.0.0/8")}, "10.88.0.0/16"},   // all taken: left to default_subnet
		{[]netip.Prefix{p("10.88.0.0/15"), p("10.90.0.0/16")}, "10.91.0.0/16"},
	} {
		if got := pickDefaultSubnet(tc.used).String(); got != tc.want {
			t.Errorf("used %v: got %s, want %s", tc.used, got, tc.want)
		}
	}
}
