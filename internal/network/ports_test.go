package network

import (
	"net"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// freeRange finds n consecutive ports on 127.0.0.1 that were free a moment ago.
func freeRange(t *testing.T, n int) int {
	t.Helper()
	for base := 42000; base < 60000; base += 97 {
		ok := true
		for p := base; p < base+n && ok; p++ {
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err != nil {
				ok = false
				continue
			}
			l.Close()
		}
		if ok {
			return base
		}
	}
	t.Skip("no free port range")
	return 0
}

func TestBindRange(t *testing.T) {
	base := freeRange(t, 3)
	// The first port of the range is taken: the next one is used.
	taken, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(base)))
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	r := &portReserver{byCtr: map[string][]int{}}
	got, err := r.reserve("c1", []PortMapping{{HostIP: "127.0.0.1", HostPort: base, HostPortEnd: base + 2, ContainerPort: 80, Protocol: "tcp"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].HostPort != base+1 || got[0].HostPortEnd != 0 {
		t.Fatalf("reserved %+v, want host port %d", got, base+1)
	}
	// A second container gets the last one, a third none.
	if got, err := r.reserve("c2", []PortMapping{{HostIP: "127.0.0.1", HostPort: base, HostPortEnd: base + 2, ContainerPort: 80, Protocol: "tcp"}}); err != nil || got[0].HostPort != base+2 {
		t.Fatalf("second: %+v %v", got, err)
	}
	_, err = r.reserve("c3", []PortMapping{{HostIP: "127.0.0.1", HostPort: base, HostPortEnd: base + 2, ContainerPort: 80, Protocol: "tcp"}})
	if err == nil || !strings.Contains(err.Error(), "no free host port") {
		t.Fatalf("third: %v, want no free host port", err)
	}
	r.releaseAll()
	for _, bad := range []PortMapping{
		{HostPort: 10, HostPortEnd: 5, ContainerPort: 80},
		{HostPort: 0, HostPortEnd: 5, ContainerPort: 80},
		{HostPort: 65000, HostPortEnd: 70000, ContainerPort: 80},
	} {
		if fd, _, err := bindRange(bad); err == nil {
			unix.Close(fd)
			t.Errorf("range %d-%d accepted", bad.HostPort, bad.HostPortEnd)
		}
	}
}
