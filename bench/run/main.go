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
	cleanup      func()
	pull         []string
}

func main() {
	n := flag.Int("n", 20, "runs per engine")
	dir := flag.String("dir", "/var/tmp/berth-bench-run", "scratch directory")
	engines := flag.String("engines", "berth,docker,podman,ctr", "engines to compare")
	repo := flag.String("repo", ".", "berth source tree (bin/)")
	flag.Parse()
	if err := run(*n, *dir, strings.Split(*engines, ","), *repo); err != nil {
		fmt.Fprintln(os.Stderr, "bench/run:", err)
		os.Exit(1)
	}
}

func run(n int, dir string, names []string, repo string) error {
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
	return w.Flush()
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
			proc, err = daemon(dir, "berthd", sock, filepath.Join(repo, "bin/berthd"), "--root", filepath.Join(dir, "root"), "--state", filepath.Join(dir, "run"), "--config", "/dev/null")
			return err
		}
		e.pull = []string{bin, "pull", "-q", ref}
		e.run = []string{bin, "run", "--rm", "--network", "none"}
		e.detached = func(i int) []string { return []string{bin, "run", "-d", "--network", "none", ref, "sleep", "1000"} }
		e.perContainer = func() []int { return pidsNamed("berth-shim", dir) }
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
			proc, err = daemon(dir, "dockerd", sock, "dockerd", "--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "exec"),
				"-H", "unix://"+sock, "--pidfile", filepath.Join(dir, "docker.pid"), "--bridge=none", "--iptables=false", "--ip-masq=false")
			return err
		}
		e.pull = []string{"docker", "pull", "-q", ref}
		e.run = []string{"docker", "run", "--rm", "--network", "none"}
		e.detached = func(i int) []string {
			return []string{"docker", "run", "-d", "--network", "none", ref, "sleep", "1000"}
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
		e.run = append(append(slices.Clone(base), "run", "--rm", "--network", "none"), lim...)
		e.detached = func(i int) []string {
			return append(append(append(slices.Clone(base), "run", "-d", "--network", "none"), lim...), ref, "sleep", "1000")
		}
		e.perContainer = func() []int { return pidsNamed("conmon", dir) }
		e.cleanup = func() { command(e, append(slices.Clone(base), "rm", "-af", "-t", "0")...).Run() }
		e.stop = func() { command(e, append(slices.Clone(base), "system", "reset", "-f")...).Run() }
	case "ctr":
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
