package daemon_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// httpd is a command serving body on port 80 with busybox httpd.
func httpd(body string) []string {
	return []string{"sh", "-c", "mkdir -p /www && echo " + body + " > /www/index.html && exec httpd -f -p 80 -h /www"}
}

// fetch GETs url until it answers (the server may still be starting).
func fetch(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 3 * time.Second}
	var last error
	for i := 0; i < 50; i++ {
		resp, err := c.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return strings.TrimSpace(string(b))
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("GET %s: %v", url, last)
	return ""
}

// hostIP is the host's first IPv4 address outside container bridges.
func hostIP(t *testing.T) string {
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback != 0 || strings.HasPrefix(i.Name, "berth") || strings.HasPrefix(i.Name, "br-") ||
			strings.HasPrefix(i.Name, "docker") || strings.HasPrefix(i.Name, "cni") || strings.HasPrefix(i.Name, "podman") {
			continue
		}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
				return n.IP.String()
			}
		}
	}
	t.Skip("no non-loopback IPv4 address")
	return ""
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// netCounts counts what networking can leak: veths, pinned namespaces,
// iptables rules and IPAM leases.
func (d *daemon) netCounts() (veths, netns, rules, leases int) {
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		if strings.HasPrefix(i.Name, "veth") {
			veths++
		}
	}
	ents, _ := os.ReadDir(filepath.Join(d.state, "network", "netns"))
	netns = len(ents)
	for _, bin := range []string{"iptables-save", "ip6tables-save"} {
		out, _ := exec.Command(bin).Output()
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, "-A") {
				rules++
			}
		}
	}
	files, _ := filepath.Glob(filepath.Join(d.state, "network", "ipam", "*", "*"))
	for _, f := range files {
		if b := filepath.Base(f); !strings.HasPrefix(b, "last_reserved_ip") && b != "lock" {
			leases++
		}
	}
	return
}

// fakeResolver answers every A query with 192.0.2.99, on host:53 (UDP);
// "" if the port is taken.
func fakeResolver(t *testing.T, host string) string {
	pc, err := net.ListenPacket("udp", net.JoinHostPort(host, "53"))
	if err != nil {
		t.Logf("no fake resolver: %v", err)
		return ""
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, RecursionAvailable: true})
			b.StartQuestions()
			b.Question(q)
			b.StartAnswers()
			if q.Type == dnsmessage.TypeA {
				b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.AResource{A: [4]byte{192, 0, 2, 99}})
			}
			if out, err := b.Finish(); err == nil {
				pc.WriteTo(out, from)
			}
		}
	}()
	return host
}

// netSettled polls netCounts until ok holds or 10 s pass: endpoints
// without published ports are torn down in the background after a
// container ends.
func (d *daemon) netSettled(ok func(veths, netns, rules, leases int) bool) (veths, netns, rules, leases int) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		veths, netns, rules, leases = d.netCounts()
		if ok(veths, netns, rules, leases) || time.Now().After(deadline) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestNetworking: containers on a user network reach each other by name
// and alias, published ports answer on the host's address and loopback,
// containers reach the host's network through NAT, and all of it comes
// back after kill -9 of the daemon — with both CLIs.
func TestNetworking(t *testing.T) {
	d := startDaemon(t, "")
	img := busybox(t)
	d.berth("pull", "-q", img)
	host := hostIP(t)
	veths0, _, _, _ := d.netCounts()

	d.berth("network", "create", "n1")
	d.docker("network", "create", "--subnet", "10.123.45.0/24", "n2")
	if out := d.docker("network", "ls", "--format", "{{.Name}} {{.Driver}}"); !strings.Contains(out, "n1 bridge") || !strings.Contains(out, "n2 bridge") || !strings.Contains(out, "bridge bridge") || !strings.Contains(out, "host host") {
		t.Errorf("docker network ls: %s", out)
	}
	d.berth(append([]string{"run", "-d", "--network", "n1", "--name", "web", "--network-alias", "www", img}, httpd("from-web")...)...)
	d.docker(append([]string{"run", "-d", "--network", "n2", "--ip", "10.123.45.77", "--name", "web2", img}, httpd("from-web2")...)...)
	for _, name := range []string{"web", "www"} {
		if out, errOut, code := d.runExit("run", "--rm", "--network", "n1", img, "wget", "-qO-", "http://"+name); strings.TrimSpace(out) != "from-web" {
			t.Errorf("berth: wget %s on n1: %q %q %d", name, out, errOut, code)
		}
	}
	if out := strings.TrimSpace(d.docker("run", "--rm", "--network", "n2", img, "wget", "-qO-", "web2")); out != "from-web2" {
		t.Errorf("docker: wget web2 on n2: %q", out)
	}
	// --network container:web: web's network (its server on localhost),
	// hostname, hosts and resolvers.
	webHost := strings.TrimSpace(d.berth("inspect", "-f", "{{.Config.Hostname}}", "web"))
	out := d.docker("run", "--rm", "--network", "container:web", img, "sh", "-c", "hostname; wget -qO- http://localhost; grep -c "+webHost+" /etc/hosts; grep -c nameserver /etc/resolv.conf; wget -qO- www")
	if lines := strings.Fields(out); len(lines) != 5 || lines[0] != webHost || lines[1] != "from-web" || lines[2] == "0" || lines[4] != "from-web" {
		t.Errorf("--network container:web: %q (want %s, from-web, hosts and resolvers of web)", out, webHost)
	}
	if msg := d.berthFail("run", "--rm", "--network", "container:web", "--hostname", "x", img, "true"); !strings.Contains(msg, "conflicting options") {
		t.Errorf("--hostname with container network: %q", msg)
	}
	if ip := strings.TrimSpace(d.docker("inspect", "-f", "{{.NetworkSettings.Networks.n2.IPAddress}}", "web2")); ip != "10.123.45.77" {
		t.Errorf("--ip: inspect says %q", ip)
	}
	// Networks are apart: web's name is not known on n2 (whatever the
	// host's resolvers say of "web"), nor is its address reachable.
	webIP := strings.TrimSpace(d.berth("inspect", "-f", "{{.NetworkSettings.Networks.n1.IPAddress}}", "web"))
	if out, _, _ := d.runExit("run", "--rm", "--network", "n2", img, "nslookup", "web"); strings.Contains(out, webIP) {
		t.Errorf("web's n1 address resolves on n2: %s", out)
	}
	if _, _, code := d.runExit("run", "--rm", "--network", "n2", img, "sh", "-c", "timeout 3 wget -qO- http://"+webIP+"; exit $?"); code == 0 {
		t.Errorf("a container on n2 reached web on n1 at %s", webIP)
	}
	// Isolation does not depend on bridge names: a network whose bridge
	// is named by hand is apart too, both ways.
	d.docker("network", "create", "-o", "com.docker.network.bridge.name=iso3", "n3")
	d.berth(append([]string{"run", "-d", "--network", "n3", "--name", "web3", img}, httpd("from-web3")...)...)
	web3IP := strings.TrimSpace(d.berth("inspect", "-f", "{{.NetworkSettings.Networks.n3.IPAddress}}", "web3"))
	if _, _, code := d.runExit("run", "--rm", "--network", "n1", img, "sh", "-c", "timeout 3 wget -qO- http://"+web3IP+"; exit $?"); code == 0 {
		t.Errorf("a container on n1 reached web3 on n3 (bridge iso3) at %s", web3IP)
	}
	if _, _, code := d.runExit("run", "--rm", "--network", "n3", img, "sh", "-c", "timeout 3 wget -qO- http://"+webIP+"; exit $?"); code == 0 {
		t.Errorf("a container on n3 (bridge iso3) reached web on n1 at %s", webIP)
	}
	// (The same command succeeds within the network: the failures above
	// are the isolation's.)
	if out, errOut, code := d.runExit("run", "--rm", "--network", "n3", img, "sh", "-c", "timeout 3 wget -qO- http://"+web3IP+"; exit $?"); code != 0 || strings.TrimSpace(out) != "from-web3" {
		t.Errorf("on n3: wget web3 at %s: %q %q %d", web3IP, out, errOut, code)
	}
	d.berth("rm", "-f", "web3")
	d.berth("network", "rm", "n3")
	// connect/disconnect a running container.
	d.docker("network", "connect", "n1", "web2")
	if out := strings.TrimSpace(d.berth("run", "--rm", "--network", "n1", img, "wget", "-qO-", "web2")); out != "from-web2" {
		t.Errorf("after connect: %q", out)
	}
	if out := d.docker("network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{end}}", "n1"); !strings.Contains(out, "web2") || !strings.Contains(out, "web") {
		t.Errorf("network inspect n1 containers: %q", out)
	}
	d.docker("network", "disconnect", "n1", "web2")

	// Published ports: fixed, on loopback only, random, and -P.
	p1, p2 := freePort(t), freePort(t)
	d.docker(append([]string{"run", "-d", "--name", "pub", "-p", fmt.Sprintf("%d:80", p1), img}, httpd("published")...)...)
	d.berth(append([]string{"run", "-d", "--name", "lo", "-p", fmt.Sprintf("127.0.0.1:%d:80", p2), img}, httpd("loopback-only")...)...)
	d.berth(append([]string{"run", "-d", "--name", "rand", "-p", "80", img}, httpd("random")...)...)
	d.berth(append([]string{"run", "-d", "--name", "all", "-P", "--expose", "80", img}, httpd("all")...)...)
	for _, addr := range []string{"127.0.0.1", host} {
		if got := fetch(t, fmt.Sprintf("http://%s:%d/", addr, p1)); got != "published" {
			t.Errorf("published port on %s: %q", addr, got)
		}
	}
	if got := fetch(t, fmt.Sprintf("http://127.0.0.1:%d/", p2)); got != "loopback-only" {
		t.Errorf("loopback port: %q", got)
	}
	for name, want := range map[string]string{"rand": "random", "all": "all"} {
		out := strings.TrimSpace(d.berth("port", name, "80/tcp"))
		_, port, ok := strings.Cut(out, ":")
		if !ok {
			t.Fatalf("berth port %s: %q", name, out)
		}
		if got := fetch(t, "http://127.0.0.1:"+port+"/"); got != want {
			t.Errorf("%s: %q", name, got)
		}
	}
	if out := d.docker("ps", "--format", "{{.Names}} {{.Ports}}"); !strings.Contains(out, fmt.Sprintf("pub 0.0.0.0:%d->80/tcp", p1)) {
		t.Errorf("docker ps ports: %s", out)
	}
	if out := d.docker("port", "pub"); !strings.Contains(out, fmt.Sprintf("80/tcp -> 0.0.0.0:%d", p1)) {
		t.Errorf("docker port: %s", out)
	}
	// Outbound: a container reaches a server on the host's address.
	l, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "host-side") })}
	go srv.Serve(l)
	defer srv.Close()
	hostURL := "http://" + l.Addr().String() + "/"
	if out := strings.TrimSpace(d.berth("run", "--rm", img, "wget", "-qO-", hostURL)); out != "host-side" {
		t.Errorf("outbound from the default network: %q", out)
	}
	d.berth("network", "create", "--internal", "inside")
	// (sh stays pid 1 and runs timeout: a signal from within cannot end a namespace's
	// pid 1; and busybox wget -T crashes in this image, so it cannot
	// tell a refusal from a crash.)
	if _, _, code := d.runExit("run", "--rm", "--network", "inside", img, "sh", "-c", "timeout 3 wget -qO- "+hostURL+"; exit $?"); code == 0 {
		t.Errorf("a container on an internal network reached the host's network")
	}
	// --dns on a user network: the network's server forwards what is not
	// a container's name to the container's own resolver.
	if up := fakeResolver(t, host); up != "" {
		out := d.berth("run", "--rm", "--network", "n1", "--dns", up, img, "nslookup", "example.test")
		if !strings.Contains(out, "192.0.2.99") {
			t.Errorf("--dns upstream: %s", out)
		}
	}
	// Dual stack, and a MAC address asked for.
	d.berth("network", "create", "--ipv6", "--subnet", "fd00:b0:1::/64", "v6")
	d.berth("run", "-d", "--name", "six", "--network", "v6", "--mac-address", "92:d0:c6:0a:29:33", img, "sleep", "600")
	if out := d.berth("run", "--rm", "--network", "v6", img, "ping", "-6", "-c1", "-W2", "six"); !strings.Contains(out, "fd00:b0:1::") {
		t.Errorf("ping -6 by name: %s", out)
	}
	if out := d.berth("inspect", "-f", "{{.NetworkSettings.Networks.v6.GlobalIPv6Address}} {{.NetworkSettings.Networks.v6.MacAddress}}", "six"); !strings.HasPrefix(out, "fd00:b0:1::") || !strings.Contains(out, "92:d0:c6:0a:29:33") {
		t.Errorf("inspect v6/mac: %s", out)
	}
	d.berth("rm", "-f", "six")
	if out := d.berth("network", "prune", "-f"); !strings.Contains(out, "v6") || strings.Contains(out, "n1") {
		t.Errorf("network prune: %s", out)
	}
	// The daemon dies and comes back: names and ports still work.
	d.kill()
	d.start()
	if out := strings.TrimSpace(d.berth("run", "--rm", "--network", "n1", img, "wget", "-qO-", "www")); out != "from-web" {
		t.Errorf("after restart: wget www: %q", out)
	}
	if got := fetch(t, fmt.Sprintf("http://127.0.0.1:%d/", p1)); got != "published" {
		t.Errorf("after restart: published port: %q", got)
	}
	// A host port in use is refused, and nothing is left of the try.
	_, errOut, code := d.runExit("run", "-d", "-p", fmt.Sprintf("%d:80", p1), img, "true")
	if code == 0 || !strings.Contains(errOut, "port is already allocated") {
		t.Errorf("port taken twice: code %d, %q", code, errOut)
	}
	// A host port range for one container port takes its first free port
	// (p1 is pub's).
	d.docker(append([]string{"run", "-d", "--name", "ranged", "-p", fmt.Sprintf("%d-%d:80", p1, p1+20), img}, httpd("ranged")...)...)
	out = strings.TrimSpace(d.berth("port", "ranged", "80/tcp"))
	if _, port, _ := strings.Cut(out, ":"); port == "" || port == fmt.Sprint(p1) || fetch(t, "http://127.0.0.1:"+port+"/") != "ranged" {
		t.Errorf("host port range: port %q", out)
	}
	if out := d.berthFail("network", "rm", "n1"); !strings.Contains(out, "active endpoints") {
		t.Errorf("rm of a network in use: %q", out)
	}
	d.berth("rm", "-f", "web", "web2", "pub", "lo", "rand", "all", "ranged")
	d.berth("container", "prune", "-f")
	d.berth("network", "rm", "n1", "n2")
	if veths, netns, _, leases := d.netSettled(func(v, n, _, l int) bool { return v == veths0 && n == 0 && l == 0 }); veths != veths0 || netns != 0 || leases != 0 {
		t.Errorf("left: %d veths, %d namespaces, %d leases", veths, netns, leases)
	}
}

// TestNetworkBadInput: clear errors, nothing half-made.
func TestNetworkBadInput(t *testing.T) {
	d := startDaemon(t, "")
	img := busybox(t)
	d.berth("pull", "-q", img)
	d.berth("network", "create", "--subnet", "10.124.0.0/16", "a")
	veths0, _, _, _ := d.netCounts()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"network", "create", "--subnet", "10.124.3.0/24", "b"}, "overlaps"},
		{[]string{"network", "create", "--subnet", "10.300.0.0/16", "b"}, "invalid"},
		{[]string{"network", "create", "a"}, "already exists"},
		{[]string{"network", "create", "bad/name"}, "invalid network name"},
		{[]string{"network", "rm", "bridge"}, "pre-defined"},
		{[]string{"network", "rm", "nosuch"}, "not found"},
		{[]string{"run", "--rm", "--network", "nosuch", img, "true"}, "network nosuch not found"},
		{[]string{"run", "--rm", "-p", "80:80:80:80", img, "true"}, "invalid"},
		{[]string{"run", "--rm", "-p", "99999:80", img, "true"}, "invalid"},
		{[]string{"run", "--rm", "-p", "8080:80/xyz", img, "true"}, "invalid proto"},
		{[]string{"run", "--rm", "--network", "a", "--ip", "10.99.0.5", img, "true"}, "not in any subnet"},
		{[]string{"run", "--rm", "--ip", "10.86.0.50", img, "true"}, "user defined networks only"},
		{[]string{"run", "--rm", "--network-alias", "x", img, "true"}, "user defined networks"},
	} {
		if out := d.berthFail(tc.args...); !strings.Contains(out, tc.want) {
			t.Errorf("berth %s: %q, want %q", strings.Join(tc.args, " "), out, tc.want)
		}
	}
	if out := strings.TrimSpace(d.berth("ps", "-aq")); out != "" {
		t.Errorf("containers left by refused creates: %s", out)
	}
	if veths, netns, _, leases := d.netSettled(func(v, n, _, l int) bool { return v == veths0 && n == 0 && l == 0 }); veths != veths0 || netns != 0 || leases != 0 {
		t.Errorf("left: %d veths, %d namespaces, %d leases", veths, netns, leases)
	}
}

// TestNetworkLeakLoop: 50 containers started and removed on one network
// leave no veth, namespace, iptables rule or IPAM lease behind.
func TestNetworkLeakLoop(t *testing.T) {
	d := startDaemon(t, "")
	img := busybox(t)
	d.berth("pull", "-q", img)
	d.berth("network", "create", "loop")
	// One round first: the plugins create their shared chains once.
	d.berth("run", "--rm", "--network", "loop", "-p", "80", img, "true")
	v0, n0, r0, l0 := d.netSettled(func(_, n, _, l int) bool { return n == 0 && l == 0 })
	for i := 0; i < 50; i++ {
		args := []string{"run", "--rm", "--network", "loop", "--name", "c" + strconv.Itoa(i), img, "true"}
		if i%5 == 0 {
			args = append(args[:len(args)-2], "-p", "80", img, "true")
		}
		d.berth(args...)
	}
	v1, n1, r1, l1 := d.netSettled(func(v, n, r, l int) bool { return v == v0 && n == n0 && r == r0 && l == l0 })
	if v1 != v0 || n1 != n0 || r1 != r0 || l1 != l0 {
		t.Errorf("after 50 containers: veths %d->%d, namespaces %d->%d, iptables rules %d->%d, leases %d->%d", v0, v1, n0, n1, r0, r1, l0, l1)
	}
	d.berth("network", "rm", "loop")
}

// TestSweepLeftoverCNIRules: nat rules the CNI plugins tagged for an
// endpoint of a container that is gone, whose namespace pin is gone too
// (a teardown cut short), are removed at the next daemon start; rules
// tagged for another daemon's network are not touched.
func TestSweepLeftoverCNIRules(t *testing.T) {
	d := startDaemon(t, "")
	netID := strings.TrimSpace(d.berth("network", "inspect", "-f", "{{.Id}}", "bridge"))
	if len(netID) < 12 {
		t.Fatalf("bridge network ID %q", netID)
	}
	ipt := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("iptables", append([]string{"-w", "-t", "nat"}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("iptables %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	gone := strings.Repeat("a1", 32)
	other := strings.Repeat("b2", 32)
	tag := func(network, id string) string { return fmt.Sprintf("name: %q id: %q", network, id) }
	chain := "CNI-" + gone[:20]
	otherChain := "CNI-" + other[:20]
	ipt("-N", chain)
	ipt("-A", chain, "-d", "10.254.0.0/16", "-m", "comment", "--comment", tag("berth-"+netID[:12], gone), "-j", "ACCEPT")
	ipt("-A", "POSTROUTING", "-s", "10.254.0.9/32", "-m", "comment", "--comment", tag("berth-"+netID[:12], gone), "-j", chain)
	// Another daemon's network on this host.
	ipt("-N", otherChain)
	ipt("-A", "POSTROUTING", "-s", "10.254.0.10/32", "-m", "comment", "--comment", tag("berth-0123456789ab", other), "-j", otherChain)
	t.Cleanup(func() {
		exec.Command("iptables", "-w", "-t", "nat", "-D", "POSTROUTING", "-s", "10.254.0.10/32", "-m", "comment", "--comment", tag("berth-0123456789ab", other), "-j", otherChain).Run()
		exec.Command("iptables", "-w", "-t", "nat", "-X", otherChain).Run()
		exec.Command("iptables", "-w", "-t", "nat", "-D", "POSTROUTING", "-s", "10.254.0.9/32", "-m", "comment", "--comment", tag("berth-"+netID[:12], gone), "-j", chain).Run()
		exec.Command("iptables", "-w", "-t", "nat", "-F", chain).Run()
		exec.Command("iptables", "-w", "-t", "nat", "-X", chain).Run()
	})
	d.restart()
	out, err := exec.Command("iptables", "-w", "-t", "nat", "-S").Output()
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	if strings.Contains(s, gone) || strings.Contains(s, chain) {
		t.Errorf("leftover rules of a removed container survived the restart:\n%s", s)
	}
	if !strings.Contains(s, other) || !strings.Contains(s, "-N "+otherChain) {
		t.Errorf("another daemon's rules were removed:\n%s", s)
	}
}
