package cri

import (
	"strings"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestPodUserNS(t *testing.T) {
	m := func(c, h, n uint32) []*runtimeapi.IDMapping {
		return []*runtimeapi.IDMapping{{ContainerId: c, HostId: h, Length: n}}
	}
	tests := []struct {
		name    string
		opts    *runtimeapi.UserNamespace
		wantMap bool
		err     string
	}{
		{"no options: the node's", nil, false, ""},
		{"node", &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_NODE}, false, ""},
		{"node with maps", &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_NODE, Uids: m(0, 1000, 10)}, false, "takes no uid"},
		{"pod", &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD, Uids: m(0, 1000, 65536), Gids: m(0, 1000, 65536)}, true, ""},
		{"pod without maps", &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD}, false, "exactly one uid mapping, got 0"},
		{"pod, two uid maps", &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD, Uids: append(m(0, 1000, 10), m(10, 5000, 10)...), Gids: m(0, 1000, 65536)}, false, "exactly one uid mapping, got 2"},
		{"pod, gid map missing", &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD, Uids: m(0, 1000, 65536)}, false, "exactly one gid mapping"},
		{"root unmapped", &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD, Uids: m(1, 1000, 65536), Gids: m(0, 1000, 65536)}, false, "container id 0, not 1"},
		{"empty map", &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD, Uids: m(0, 1000, 0), Gids: m(0, 1000, 65536)}, false, "length 0"},
		{"past the id range", &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD, Uids: m(0, 1<<32-10, 65536), Gids: m(0, 1000, 65536)}, false, "past the id range"},
		{"host root", &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD, Uids: m(0, 0, 65536), Gids: m(0, 1000, 65536)}, false, "host's id 0"},
		{"container mode", &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_CONTAINER}, false, "mode CONTAINER"},
		{"target mode", &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_TARGET}, false, "mode TARGET"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			uids, gids, err := podUserNS(tc.opts)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (uids != nil) != tc.wantMap || (gids != nil) != tc.wantMap {
				t.Fatalf("maps %v %v, want maps: %v", uids, gids, tc.wantMap)
			}
			if tc.wantMap && (uids[0].HostID != 1000 || uids[0].Size != 65536 || uids[0].ContainerID != 0) {
				t.Fatalf("uid map %+v", uids[0])
			}
		})
	}
}
