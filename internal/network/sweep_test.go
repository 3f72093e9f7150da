package network

import (
	"reflect"
	"testing"
)

func TestSplitRule(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		ok   bool
	}{
		{`POSTROUTING -s 10.87.0.23/32 -j MASQUERADE`, []string{"POSTROUTING", "-s", "10.87.0.23/32", "-j", "MASQUERADE"}, true},
		{`X -m comment --comment "name: \"berth-1\" id: \"c1\"" -j CNI-a`, []string{"X", "-m", "comment", "--comment", `name: "berth-1" id: "c1"`, "-j", "CNI-a"}, true},
		{`X --comment "a\\b"`, []string{"X", "--comment", `a\b`}, true},
		{`X --comment ""`, []string{"X", "--comment", ""}, true},
		{`X --comment "open`, nil, false},
		{``, nil, true},
	} {
		got, ok := splitRule(tc.in)
		if ok != tc.ok || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("splitRule(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestOrphanRules(t *testing.T) {
	const gone = "0a499d610aab846538ca8e0e4e5110825233298f94bcfb0aa124f7d1ef9cf78c"
	const live = "1111111111111111111111111111111111111111111111111111111111111111"
	save := `-P PREROUTING ACCEPT
-N CNI-HOSTPORT-DNAT
-N CNI-a5c197a04fc29b128ee22bc4
-N CNI-DN-0123456789abcdef01234
-N CNI-b000000000000000000000000
-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
-A POSTROUTING -s 10.87.0.23/32 -m comment --comment "name: \"berth-6389e6eec4c7\" id: \"` + gone + `\"" -j CNI-a5c197a04fc29b128ee22bc4
-A POSTROUTING -s 10.87.0.24/32 -m comment --comment "name: \"berth-6389e6eec4c7\" id: \"` + live + `\"" -j CNI-b000000000000000000000000
-A POSTROUTING -s 10.88.0.190/32 -m comment --comment "name: \"podman\" id: \"` + gone + `\"" -j CNI-34cd0e98a14edaf3fe2b6264
-A POSTROUTING -s 10.86.0.5/32 -m comment --comment "name: \"berth-ffffffffffff\" id: \"` + gone + `\"" -j CNI-c000000000000000000000000
-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \"berth-6389e6eec4c7\" id: \"` + gone + `\"" -m multiport --dports 41079 -j CNI-DN-0123456789abcdef01234
-A CNI-DN-0123456789abcdef01234 -p tcp -m tcp --dport 41079 -j DNAT --to-destination 10.87.0.23:80
-A CNI-a5c197a04fc29b128ee22bc4 -d 10.87.0.0/16 -m comment --comment "name: \"berth-6389e6eec4c7\" id: \"` + gone + `\"" -j ACCEPT
`
	// Only this daemon's network (berth-6389e6eec4c7), only the gone container.
	orphan := func(network, id string) bool { return network == "berth-6389e6eec4c7" && id != live }
	rules, chains := orphanRules(save, orphan)
	tag := `name: "berth-6389e6eec4c7" id: "` + gone + `"`
	wantRules := [][]string{
		{"POSTROUTING", "-s", "10.87.0.23/32", "-m", "comment", "--comment", tag, "-j", "CNI-a5c197a04fc29b128ee22bc4"},
		{"CNI-HOSTPORT-DNAT", "-p", "tcp", "-m", "comment", "--comment", "dnat " + tag, "-m", "multiport", "--dports", "41079", "-j", "CNI-DN-0123456789abcdef01234"},
		{"CNI-a5c197a04fc29b128ee22bc4", "-d", "10.87.0.0/16", "-m", "comment", "--comment", tag, "-j", "ACCEPT"},
	}
	if !reflect.DeepEqual(rules, wantRules) {
		t.Errorf("rules:\n%q\nwant\n%q", rules, wantRules)
	}
	wantChains := []string{"CNI-a5c197a04fc29b128ee22bc4", "CNI-DN-0123456789abcdef01234"}
	if !reflect.DeepEqual(chains, wantChains) {
		t.Errorf("chains %q, want %q (never the shared CNI-HOSTPORT-*)", chains, wantChains)
	}
	if r, c := orphanRules(save, func(string, string) bool { return false }); r != nil || c != nil {
		t.Errorf("nothing orphaned: got %q, %q", r, c)
	}
}
