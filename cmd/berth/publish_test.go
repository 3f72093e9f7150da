package main

import (
	"fmt"
	"strings"
	"testing"
)

func TestParsePublish(t *testing.T) {
	tests := []struct {
		spec     string
		bindings string // key=ip/hostport, sorted by fmt
		err      string
	}{
		{"80", "map[80/tcp:[map[HostIp: HostPort:]]]", ""},
		{"8080:80", "map[80/tcp:[map[HostIp: HostPort:8080]]]", ""},
		{"127.0.0.1:8080:80/udp", "map[80/udp:[map[HostIp:127.0.0.1 HostPort:8080]]]", ""},
		{"[::1]:8080:80", "map[80/tcp:[map[HostIp:::1 HostPort:8080]]]", ""},
		{"8000-8001:80-81", "map[80/tcp:[map[HostIp: HostPort:8000]] 81/tcp:[map[HostIp: HostPort:8001]]]", ""},
		{"8000-8010:80", "map[80/tcp:[map[HostIp: HostPort:8000-8010]]]", ""},
		{"8000-8001:80-82", "", "invalid ranges"},
		{"8000:80/icmp", "", "invalid proto"},
		{"x:80", "", "invalid hostPort"},
		{"nohost:8080:80", "", "invalid IP address"},
		{"1:2:3:4", "", "invalid port format"},
		{"8000-7000:80", "", "invalid hostPort"},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			_, b, err := parsePublish([]string{tc.spec}, nil)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(b); got != tc.bindings {
				t.Fatalf("bindings %s, want %s", got, tc.bindings)
			}
		})
	}
}
