// Command run benchmarks `run --rm busybox /bin/true` end to end through
// each engine's CLI — berth, docker (dockerd 20.10), podman and ctr — in
// one interleaved run, and reports medians and ratios, plus the memory
// each engine spends per idle running container (PSS and VmRSS of the
// per-container processes, summed over 10 `sleep` containers).
//
//	go run ./bench/run -n 20
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/berth-dev/berth/internal/testutil/registry"
)

type engine struct {
	name  string
	env   []string
	run   []string // command prefix for `run --rm IMAGE /bin/true`
	start func() error
	stop  func()
	// perContainer lists the pids of per-container processes (shims).
	perContainer func() []int
	detached     func(i int) []string // command to start sleep container i
	// publish starts a detached container running cmd with host port
	// port published to its port 5001.
	publish func(port int, cmd ...string) []string
	cleanup func()
	pull    []string
}

// gap is the pause before each measured run (-gap).
var gap time.Duration

func main() {
	n := flag.Int("n", 20, "runs per engine")
	dir := flag.String("dir", "/var/tmp/berth-bench-run", "scratch directory")
	engines := flag.String("engines", "berth,docker,podman,ctr", "engines to compare")
	repo := flag.String("repo", ".", "berth source tree (bin/)")
	flag.StringVar(&netMode, "network", "none", "network of the containers: none, or bridge (each engine's default bridge network; ctr is left out), which also measures TCP throughput host->container through a published port")
	flag.IntVar(&throughputMiB, "mib", 2048, "MiB sent per throughput round (-network bridge)")
	flag.IntVar(&throughputRounds, "rounds", 3, "throughput rounds, interleaved (-network bridge)")
	flag.DurationVar(&gap, "gap", 0, "pause before each measured run, so the previous engine's background work (its removal) is done")
	flag.Parse()
	if err := run(*n, *dir, strings.Split(*engines, ","), *repo); err != nil {
		fmt.Fprintln(os.Stderr, "bench/run:", err)
		os.Exit(1)
	}
}

var (
	netMode          string
	throughputMiB    int
	throughputRounds int
)

func run(n int, dir string, names []string, repo string) error {
	if netMode != "none" && netMode != "bridge" {
		return fmt.Errorf("-network %q: want none or bridge", netMode)
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("must run as root")
	}
	os.RemoveAll(dir)
	os.MkdirAll(dir, 0o755)
	defer os.RemoveAll(dir)
	repo, _ = filepath.Abs(repo)
	host, stopReg, err := startRegistry(dir)
	if err != nil {
		return err
	}
	defer stopReg()
	img, err := registry.NewBusyboxImage()
	if err != nil {
		return err
	}
	ref := host + "/bench/busybox:latest"
	if _, err := registry.PushArtifact(context.Background(), ref, img, nil); err != nil {
		return err
	}
	var engs []*engine
	for _, name := range names {
		e, err := newEngine(name, filepath.Join(dir, name), repo, ref)
		if err != nil {
			fmt.Fprintf(os.Stderr, "skipping %s: %v\n", name, err)
			continue
		}
		if e.start != nil {
			if err := e.start(); err != nil {
				fmt.Fprintf(os.Stderr, "skipping %s: %v\n", name, err)
				continue
			}
		}
		defer e.stop()
		if out, err := command(e, e.pull...).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "skipping %s: pull: %v %s\n", name, err, out)
			continue
		}
		engs = append(engs, e)
	}
	// warm up
	for _, e := range engs {
		for range 3 {
			if out, err := command(e, append(e.run, ref, "/bin/true")...).CombinedOutput(); err != nil {
				return fmt.Errorf("%s: %v: %s", e.name, err, out)
			}
		}
	}
	times := map[string][]float64{}
	for i := 0; i < n; i++ {
		order := slices.Clone(engs)
		rot := i % len(order)
		order = append(order[rot:], order[:rot]...)
		for _, e := range order {
			time.Sleep(gap)
			cmd := command(e, append(e.run, ref, "/bin/true")...)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			t0 := time.Now()
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("%s: %v: %s", e.name, err, out.String())
			}
			times[e.name] = append(times[e.name], float64(time.Since(t0).Microseconds())/1000)
		}
	}
	mem := map[string][2]float64{}
	for _, e := range engs {
		if e.detached == nil {
			continue
		}
		for i := range 10 {
			if out, err := command(e, e.detached(i)...).CombinedOutput(); err != nil {
				return fmt.Errorf("%s: detached: %v: %s", e.name, err, out)
			}
		}
		time.Sleep(2 * time.Second)
		var rss, pss float64
		pids := e.perContainer()
		if len(pids) != 10 {
			fmt.Fprintf(os.Stderr, "bench/run: %s: %d per-container processes found, want 10\n", e.name, len(pids))
		}
		for _, pid := range pids {
			r, p := memory(pid)
			rss += r
			pss += p
		}
		mem[e.name] = [2]float64{rss / 10, pss / 10}
		e.cleanup()
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "engine\tmedian ms\tmean ms\tmin ms\tvs docker\tvs ctr\tper-container VmRSS MiB\tper-container PSS MiB")
	med := map[string]float64{}
	for k, v := range times {
		med[k] = median(v)
	}
	for _, e := range engs {
		v := times[e.name]
		ratio := func(o string) string {
			if med[o] == 0 {
				return "-"
			}
			return fmt.Sprintf("%.2fx", med[e.name]/med[o])
		}
		m, ok := mem[e.name]
		ms := "-\t-"
		if ok {
			ms = fmt.Sprintf("%.2f\t%.2f", m[0], m[1])
		}
		fmt.Fprintf(w, "%s\t%.1f\t%.1f\t%.1f\t%s\t%s\t%s\n", e.name, med[e.name], mean(v), slices.Min(v), ratio("docker"), ratio("ctr"), ms)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if netMode == "bridge" {
		return throughput(engs, ref)
	}
	return nil
}

func command(e *engine, args ...string) *exec.Cmd {
	c := exec.Command(args[0], args[1:]...)
	c.Env = append(os.Environ(), e.env...)
	return c
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func mean(xs []float64) float64 {
	var t float64
	for _, x := range xs {
		t += x
	}
	return t / float64(len(xs))
}

// memory returns VmRSS and PSS in MiB.
func memory(pid int) (float64, float64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, 0
	}
	var rss, pss float64
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "Rss:":
			rss = v / 1024
		case "Pss:":
			pss = v / 1024
		}
	}
	return rss, pss
}

// pidsNamed lists processes whose command line starts with prefix and
// mentions dir (the engine's own root, so that other engines' and other
// daemons' processes on the machine are not counted).
// unassignedSpare reports whether pid is a spare berth-shim still waiting
// for a container: launched with --spare, its directory not yet moved.
func unassignedSpare(pid int) bool {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	args := strings.Split(string(b), "\x00")
	for i, a := range args {
		if a == "--state-dir" && i+1 < len(args) && strings.HasPrefix(filepath.Base(args[i+1]), "spare-") {
			_, err := os.Stat(args[i+1])
			return err == nil
		}
	}
	return false
}

func pidsNamed(prefix, dir string) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if strings.HasPrefix(filepath.Base(strings.SplitN(string(b), "\x00", 2)[0]), prefix) && strings.Contains(string(b), dir) {
			out = append(out, pid)
		}
	}
	return out
}

func startRegistry(dir string) (string, func(), error) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s/registry\nhttp:\n  addr: 127.0.0.1:%d\n", dir, port)
	p := filepath.Join(dir, "registry.yml")
	os.WriteFile(p, []byte(cfg), 0o644)
	cmd := exec.Command(registry.Binary, "serve", p)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	host := fmt.Sprintf("127.0.0.1:%d", port)
	for range 200 {
		if r, err := http.Get("http://" + host + "/v2/"); err == nil {
			r.Body.Close()
			return host, func() { cmd.Process.Kill(); cmd.Wait() }, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill()
	return "", nil, fmt.Errorf("registry did not start")
}

func daemon(dir, name string, sock string, args ...string) (*exec.Cmd, error) {
	os.MkdirAll(dir, 0o755)
	cmd := exec.Command(args[0], args[1:]...)
	logf, _ := os.Create(filepath.Join(dir, name+".log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	for range 600 {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return cmd, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill()
	return nil, fmt.Errorf("%s did not come up (log in %s)", name, dir)
}

func stopProc(cmd *exec.Cmd) {
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
	}
}

func newEngine(name, dir, repo, ref string) (*engine, error) {
	var proc *exec.Cmd
	e := &engine{name: name, stop: func() { stopProc(proc) }}
	switch name {
	case "berth":
		sock := filepath.Join(dir, "run/berth.sock")
		e.env = []string{"BERTH_HOST=unix://" + sock}
		bin := filepath.Join(repo, "bin/berth")
		e.start = func() (err error) {
			// Its own default bridge, apart from a berthd already running here.
			cfg := filepath.Join(dir, "berth.toml")
			os.MkdirAll(dir, 0o755)
			os.WriteFile(cfg, []byte("[network]\ndefault_bridge = \"berthbench0\"\ndefault_subnet = \"10.87.0.0/16\"\n"), 0o644)
			proc, err = daemon(dir, "berthd", sock, filepath.Join(repo, "bin/berthd"), "--root", filepath.Join(dir, "root"), "--state", filepath.Join(dir, "run"), "--config", cfg)
			return err
		}
		e.pull = []string{bin, "pull", "-q", ref}
		e.run = []string{bin, "run", "--rm", "--network", netMode}
		e.detached = func(i int) []string { return []string{bin, "run", "-d", "--network", netMode, ref, "sleep", "1000"} }
		e.publish = func(port int, cmd ...string) []string {
			return append([]string{bin, "run", "-d", "-p", fmt.Sprintf("%d:5001", port), ref}, cmd...)
		}
		// The one spare shim berthd keeps for the next start is the
		// daemon's, not a container's (as containerd's and dockerd's own
		// memory is not counted): left out.
		e.perContainer = func() []int {
			var pids []int
			for _, pid := range pidsNamed("berth-shim", dir) {
				if !unassignedSpare(pid) {
					pids = append(pids, pid)
				}
			}
			return pids
		}
		e.cleanup = func() {
			out, _ := command(e, bin, "ps", "-aq").Output()
			command(e, append([]string{bin, "rm", "-f"}, strings.Fields(string(out))...)...).Run()
		}
	case "docker":
		if _, err := exec.LookPath("dockerd"); err != nil {
			return nil, err
		}
		sock := filepath.Join(dir, "docker.sock")
		e.env = []string{"DOCKER_HOST=unix://" + sock}
		e.start = func() (err error) {
			args := []string{"dockerd", "--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "exec"),
				"-H", "unix://" + sock, "--pidfile", filepath.Join(dir, "docker.pid")}
			if netMode == "none" {
				args = append(args, "--bridge=none", "--iptables=false", "--ip-masq=false")
			}
			proc, err = daemon(dir, "dockerd", sock, args...)
			return err
		}
		e.pull = []string{"docker", "pull", "-q", ref}
		e.run = []string{"docker", "run", "--rm", "--network", netMode}
		e.detached = func(i int) []string {
			return []string{"docker", "run", "-d", "--network", netMode, ref, "sleep", "1000"}
		}
		e.publish = func(port int, cmd ...string) []string {
			return append([]string{"docker", "run", "-d", "-p", fmt.Sprintf("%d:5001", port), ref}, cmd...)
		}
		e.perContainer = func() []int { return pidsNamed("containerd-shim", dir) }
		e.cleanup = func() {
			out, _ := command(e, "docker", "ps", "-aq").Output()
			command(e, append([]string{"docker", "rm", "-f"}, strings.Fields(string(out))...)...).Run()
		}
	case "podman":
		if _, err := exec.LookPath("podman"); err != nil {
			return nil, err
		}
		base := []string{"podman", "--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run")}
		e.pull = append(slices.Clone(base), "pull", "-q", "--tls-verify=false", ref)
		lim := []string{"--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"}
		e.run = append(append(slices.Clone(base), "run", "--rm", "--network", netMode), lim...)
		e.detached = func(i int) []string {
			return append(append(append(slices.Clone(base), "run", "-d", "--network", netMode), lim...), ref, "sleep", "1000")
		}
		e.publish = func(port int, cmd ...string) []string {
			return append(append(append(slices.Clone(base), "run", "-d", "-p", fmt.Sprintf("%d:5001", port)), lim...), append([]string{ref}, cmd...)...)
		}
		e.perContainer = func() []int { return pidsNamed("conmon", dir) }
		e.cleanup = func() { command(e, append(slices.Clone(base), "rm", "-af", "-t", "0")...).Run() }
		e.stop = func() { command(e, append(slices.Clone(base), "system", "reset", "-f")...).Run() }
	case "ctr":
		if netMode != "none" {
			return nil, fmt.Errorf("ctr run has no bridge network of its own")
		}
		sock := filepath.Join(dir, "containerd.sock")
		cfg := fmt.Sprintf("version = 2\nroot = %q\nstate = %q\n[grpc]\n  address = %q\n", filepath.Join(dir, "root"), filepath.Join(dir, "state"), sock)
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "config.toml"), []byte(cfg), 0o644)
		e.start = func() (err error) {
			proc, err = daemon(dir, "containerd", sock, "containerd", "--config", filepath.Join(dir, "config.toml"))
			return err
		}
		base := []string{"ctr", "-a", sock, "-n", "bench"}
		e.pull = append(slices.Clone(base), "images", "pull", "--plain-http", ref)
		seq := 0
		e.run = nil
		e.env = nil
		// ctr run needs a container ID per run: wrap in sh.
		e.run = []string{"sh", "-c", `exec ctr -a "$0" -n bench run --rm "$1" "ctr-$$-$(date +%s%N)" "$2"`, sock}
		e.detached = func(i int) []string {
			seq++
			return append(slices.Clone(base), "run", "-d", ref, fmt.Sprintf("sleep-%d", seq), "sleep", "1000")
		}
		e.perContainer = func() []int { return pidsNamed("containerd-shim", dir) }
		e.cleanup = func() {
			out, _ := command(e, append(slices.Clone(base), "tasks", "ls", "-q")...).Output()
			for _, id := range strings.Fields(string(out)) {
				command(e, append(slices.Clone(base), "tasks", "kill", "-s", "KILL", id)...).Run()
			}
			time.Sleep(time.Second)
			out, _ = command(e, append(slices.Clone(base), "containers", "ls", "-q")...).Output()
			for _, id := range strings.Fields(string(out)) {
				command(e, append(slices.Clone(base), "tasks", "rm", "-f", id)...).Run()
				command(e, append(slices.Clone(base), "containers", "rm", id)...).Run()
			}
		}
	default:
		return nil, fmt.Errorf("unknown engine")
	}
	return e, nil
}

// throughput measures TCP host->container through each engine's published
// port: the host's first address (the kernel's DNAT path for every engine)
// and loopback (where dockerd answers with its userland docker-proxy),
// rounds interleaved, median MiB/s.
func throughput(engs []*engine, ref string) error {
	hostIP := ""
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && strings.HasPrefix(n.IP.String(), "10.") == false {
			hostIP = n.IP.String()
			break
		}
	}
	if hostIP == "" {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
				hostIP = n.IP.String()
				break
			}
		}
	}
	defer func() {
		for _, e := range engs {
			e.cleanup()
		}
	}()
	ports := map[string]int{}
	for _, e := range engs {
		if e.publish == nil {
			continue
		}
		l, _ := net.Listen("tcp", ":0")
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		// nc ends a connection when its stdin does: give it a FIFO that never
		// does.
		cmd := e.publish(port, "sh", "-c", "mkfifo /f; exec 3<>/f; while :; do nc -l -p 5001 <&3 >/dev/null; done")
		if out, err := command(e, cmd...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: publish: %v: %s", e.name, err, out)
		}
		ports[e.name] = port
	}
	rates := map[string]map[string][]float64{}
	for round := 0; round < throughputRounds; round++ {
		// The order rotates each round, as for the runs: no engine always
		// goes first.
		for k := range engs {
			e := engs[(k+round)%len(engs)]
			port, ok := ports[e.name]
			if !ok {
				continue
			}
			for _, host := range []string{hostIP, "127.0.0.1"} {
				r, err := send(net.JoinHostPort(host, strconv.Itoa(port)), throughputMiB)
				if err != nil {
					fmt.Fprintf(os.Stderr, "bench/run: %s: throughput to %s: %v\n", e.name, host, err)
					continue
				}
				if rates[e.name] == nil {
					rates[e.name] = map[string][]float64{}
				}
				rates[e.name][host] = append(rates[e.name][host], r)
			}
		}
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "\nengine\tMiB/s via %s\tvs docker\tMiB/s via 127.0.0.1\tvs docker\n", hostIP)
	for _, e := range engs {
		if _, ok := ports[e.name]; !ok {
			continue
		}
		var cols []string
		for _, host := range []string{hostIP, "127.0.0.1"} {
			m := median(rates[e.name][host])
			ratio := "-"
			if d := median(rates["docker"][host]); d > 0 {
				ratio = fmt.Sprintf("%.2fx", m/d)
			}
			cols = append(cols, fmt.Sprintf("%.0f\t%s", m, ratio))
		}
		fmt.Fprintf(w, "%s\t%s\n", e.name, strings.Join(cols, "\t"))
	}
	return w.Flush()
}

// send writes mib MiB to addr and returns MiB/s, counted until the
// receiver has read everything and closed.
func send(addr string, mib int) (float64, error) {
	buf := make([]byte, 1<<20)
	var c net.Conn
	var err error
	var t0 time.Time
	// A userland proxy (docker-proxy) accepts before the server in the
	// container listens, and resets: retry until a first MiB goes through.
	for range 100 {
		if c, err = net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
			t0 = time.Now()
			// A stalled path (a peer's proxy, a rule gone wrong) fails
			// the round instead of hanging the bench.
			c.SetWriteDeadline(t0.Add(2 * time.Minute))
			if _, err = c.Write(buf); err == nil {
				break
			}
			c.Close()
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return 0, err
	}
	defer c.Close()
	for range mib - 1 {
		if _, err := c.Write(buf); err != nil {
			return 0, err
		}
	}
	c.(*net.TCPConn).CloseWrite()
	c.SetReadDeadline(time.Now().Add(time.Minute))
	io.Copy(io.Discard, c)
	return float64(mib) / time.Since(t0).Seconds(), nil
}
