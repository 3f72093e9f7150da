// Command pull benchmarks a cold pull (download + unpack) of the same
// images from one local registry by berth, containerd (ctr), dockerd and
// podman, interleaved in one run, and reports medians and ratios to
// containerd, plus each daemon's idle memory (VmRSS and PSS).
//
//	go run ./bench/pull -n 5
//
// It starts a docker-registry on loopback, pushes the benchmark images
// (bench/imagegen's builders: ~50 MiB/3 layers/2000 files and
// ~110 MiB/6 layers/20000 files), starts every daemon on a private root
// under -dir, and removes all of it at the end.
package main

import (
	"bytes"
	"context"
	"encoding/json"
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

type tool struct {
	name  string
	start func() error // start the daemon (nil: daemonless)
	pids  func() []int // processes whose memory counts as the daemon's
	pull  func(ref string) *exec.Cmd
	clean func(ref string) error // remove the image and collect garbage
	stop  func()
}

// settle is how long deletions are left to age before measured pulls:
// ext4 without a journal (this machine's root) skips inodes freed in the
// last 60 s (360 s while their table block is dirty, hence the sync) when
// it allocates new ones, scanning past each, so a pull soon after a big
// delete creates files several times slower, whichever tool runs it.
var settle = 65 * time.Second

type sample struct {
	Tool, Image string
	Seconds     float64
}

func main() {
	n := flag.Int("n", 3, "cold pulls per tool and image")
	dir := flag.String("dir", "/var/tmp/berth-bench-pull", "scratch directory (on the disk under test)")
	toolsFlag := flag.String("tools", "berth,containerd,dockerd,podman", "tools to compare")
	imagesFlag := flag.String("images", "small,large", "images: small (~50 MiB, 3 layers), large (~110 MiB, 6 layers, 20k files)")
	repo := flag.String("repo", ".", "berth source tree (bin/berthd, bin/berth)")
	jsonOut := flag.Bool("json", false, "print samples as JSON")
	flag.DurationVar(&settle, "settle", settle, "wait after removing the images before the measured pulls")
	flag.Parse()
	if err := run(*n, *dir, strings.Split(*toolsFlag, ","), strings.Split(*imagesFlag, ","), *repo, *jsonOut); err != nil {
		fmt.Fprintln(os.Stderr, "bench/pull:", err)
		os.Exit(1)
	}
}

func run(n int, dir string, toolNames, imageNames []string, repo string, jsonOut bool) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("must run as root")
	}
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	repo, _ = filepath.Abs(repo)

	host, stopReg, err := startRegistry(dir)
	if err != nil {
		return err
	}
	defer stopReg()
	refs := map[string]string{}
	for _, name := range imageNames {
		spec, ok := map[string]registry.BigSpec{"small": registry.BenchSmall, "large": registry.BenchLarge}[name]
		if !ok {
			return fmt.Errorf("unknown image %q", name)
		}
		img, err := registry.NewBigImage(spec)
		if err != nil {
			return err
		}
		ref := host + "/bench/" + name + ":latest"
		if _, err := registry.PushArtifact(context.Background(), ref, img, nil); err != nil {
			return fmt.Errorf("push %s: %w", ref, err)
		}
		refs[name] = ref
		fmt.Fprintf(os.Stderr, "pushed %s (%d layers, %d MiB, %d files)\n", ref, spec.Layers, spec.TotalMB, spec.Files)
	}

	var tools []*tool
	for _, name := range toolNames {
		t, err := newTool(name, dir, repo)
		if err != nil {
			fmt.Fprintf(os.Stderr, "skipping %s: %v\n", name, err)
			continue
		}
		if t.start != nil {
			if err := t.start(); err != nil {
				fmt.Fprintf(os.Stderr, "skipping %s: %v\n", name, err)
				continue
			}
			defer t.stop()
		}
		tools = append(tools, t)
	}
	if len(tools) == 0 {
		return fmt.Errorf("no tool could start")
	}
	time.Sleep(2 * time.Second)
	idle := map[string][2]float64{}
	for _, t := range tools {
		if t.pids != nil {
			idle[t.name] = memory(t.pids())
		}
	}

	var samples []sample
	for round := 0; round < n; round++ {
		for _, img := range imageNames {
			order := slices.Clone(tools)
			rot := round % len(order)
			order = append(order[rot:], order[:rot]...)
			// Cold for everyone: remove every tool's copy first, then let
			// the deletions age (see settle) so no measured pull pays for
			// a delete.
			for _, t := range order {
				if err := t.clean(refs[img]); err != nil {
					return fmt.Errorf("%s: clean before pull: %w", t.name, err)
				}
			}
			exec.Command("sync").Run()
			time.Sleep(settle)
			for _, t := range order {
				ref := refs[img]
				exec.Command("sync").Run()
				cmd := t.pull(ref)
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &out
				start := time.Now()
				err := cmd.Run()
				el := time.Since(start).Seconds()
				if err != nil {
					return fmt.Errorf("%s pull %s: %v\n%s", t.name, ref, err, out.String())
				}
				samples = append(samples, sample{Tool: t.name, Image: img, Seconds: el})
				fmt.Fprintf(os.Stderr, "round %d %-10s %-6s %6.2fs\n", round+1, t.name, img, el)
			}
		}
	}
	after := map[string][2]float64{}
	for _, t := range tools {
		if t.pids != nil {
			after[t.name] = memory(t.pids())
		}
	}
	for _, t := range tools {
		for _, ref := range refs {
			t.clean(ref)
		}
	}
	if jsonOut {
		return json.NewEncoder(os.Stdout).Encode(map[string]any{"samples": samples, "idle": idle, "after": after})
	}
	report(tools, imageNames, samples, idle, after)
	return nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func report(tools []*tool, images []string, samples []sample, idle, after map[string][2]float64) {
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "image\ttool\tmedian s\tmin s\tmax s\tvs containerd")
	for _, img := range images {
		med := map[string]float64{}
		all := map[string][]float64{}
		for _, s := range samples {
			if s.Image == img {
				all[s.Tool] = append(all[s.Tool], s.Seconds)
			}
		}
		for k, v := range all {
			med[k] = median(v)
		}
		for _, t := range tools {
			v := all[t.name]
			ratio := "-"
			if c := med["containerd"]; c > 0 {
				ratio = fmt.Sprintf("%.2fx", med[t.name]/c)
			}
			fmt.Fprintf(w, "%s\t%s\t%.2f\t%.2f\t%.2f\t%s\n", img, t.name, med[t.name], slices.Min(v), slices.Max(v), ratio)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "daemon\tidle VmRSS MiB\tidle PSS MiB\tafter pulls VmRSS MiB\tafter pulls PSS MiB")
	for _, t := range tools {
		if m, ok := idle[t.name]; ok {
			a := after[t.name]
			fmt.Fprintf(w, "%s\t%.1f\t%.1f\t%.1f\t%.1f\n", t.name, m[0], m[1], a[0], a[1])
		}
	}
	w.Flush()
}

// memory sums VmRSS and PSS (MiB) over pids.
func memory(pids []int) [2]float64 {
	var rss, pss float64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			if len(f) < 2 {
				continue
			}
			v, _ := strconv.ParseFloat(f[1], 64)
			switch f[0] {
			case "Rss:":
				rss += v / 1024
			case "Pss:":
				pss += v / 1024
			}
		}
	}
	return [2]float64{rss, pss}
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 5000
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startRegistry(dir string) (string, func(), error) {
	port := freePort()
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s/registry\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:%d\n", dir, port)
	p := filepath.Join(dir, "registry.yml")
	os.WriteFile(p, []byte(cfg), 0o644)
	cmd := exec.Command(registry.Binary, "serve", p)
	logf, _ := os.Create(filepath.Join(dir, "registry.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	host := fmt.Sprintf("127.0.0.1:%d", port)
	if err := waitFor(func() bool {
		r, err := http.Get("http://" + host + "/v2/")
		if err == nil {
			r.Body.Close()
		}
		return err == nil
	}); err != nil {
		cmd.Process.Kill()
		return "", nil, fmt.Errorf("registry did not start")
	}
	return host, func() { cmd.Process.Kill(); cmd.Wait() }, nil
}

func waitFor(ok func() bool) error {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if ok() {
			return nil
		}
	}
	return fmt.Errorf("timeout")
}

func socketUp(path string) func() bool {
	return func() bool {
		c, err := net.Dial("unix", path)
		if err == nil {
			c.Close()
		}
		return err == nil
	}
}

// daemonProc starts a long-running daemon with its log in dir.
func daemonProc(dir, name string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command(args[0], args[1:]...)
	logf, _ := os.Create(filepath.Join(dir, name+".log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setsid: true}
	return cmd, cmd.Start()
}

func children(pid int) []int {
	out := []int{pid}
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	for _, f := range strings.Fields(string(b)) {
		if c, err := strconv.Atoi(f); err == nil {
			out = append(out, children(c)...)
		}
	}
	return out
}

func stopProc(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

func newTool(name, base, repo string) (*tool, error) {
	dir := filepath.Join(base, name)
	os.MkdirAll(dir, 0o755)
	var proc *exec.Cmd
	t := &tool{name: name, stop: func() { stopProc(proc) }, pids: func() []int {
		if proc == nil || proc.Process == nil {
			return nil
		}
		return children(proc.Process.Pid)
	}}
	switch name {
	case "berth":
		berthd, berth := filepath.Join(repo, "bin/berthd"), filepath.Join(repo, "bin/berth")
		if _, err := os.Stat(berthd); err != nil {
			return nil, fmt.Errorf("%s missing: run make build", berthd)
		}
		sock := filepath.Join(dir, "run/berth.sock")
		t.start = func() (err error) {
			proc, err = daemonProc(dir, "berthd", berthd, "--root", filepath.Join(dir, "root"), "--state", filepath.Join(dir, "run"), "--config", "/dev/null")
			if err != nil {
				return err
			}
			return waitFor(socketUp(sock))
		}
		env := append(os.Environ(), "BERTH_HOST=unix://"+sock)
		t.pull = func(ref string) *exec.Cmd {
			c := exec.Command(berth, "pull", "-q", ref)
			c.Env = env
			return c
		}
		t.clean = func(ref string) error {
			c := exec.Command(berth, "rmi", "-f", ref)
			c.Env = env
			c.Run() // absent the first time
			return nil
		}
	case "containerd":
		bin, err := exec.LookPath("containerd")
		if err != nil {
			return nil, err
		}
		sock := filepath.Join(dir, "containerd.sock")
		cfg := fmt.Sprintf("version = 2\nroot = %q\nstate = %q\n[grpc]\n  address = %q\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  disable_cgroup = true\n", filepath.Join(dir, "root"), filepath.Join(dir, "state"), sock)
		os.WriteFile(filepath.Join(dir, "config.toml"), []byte(cfg), 0o644)
		t.start = func() (err error) {
			proc, err = daemonProc(dir, "containerd", bin, "--config", filepath.Join(dir, "config.toml"))
			if err != nil {
				return err
			}
			return waitFor(socketUp(sock))
		}
		t.pull = func(ref string) *exec.Cmd {
			return exec.Command("ctr", "-a", sock, "-n", "bench", "images", "pull", "--plain-http", ref)
		}
		t.clean = func(ref string) error {
			exec.Command("ctr", "-a", sock, "-n", "bench", "images", "rm", "--sync", ref).Run()
			return nil
		}
	case "dockerd":
		bin, err := exec.LookPath("dockerd")
		if err != nil {
			return nil, err
		}
		sock := filepath.Join(dir, "docker.sock")
		docker := "/usr/bin/docker"
		if _, err := os.Stat(docker); err != nil {
			docker = "docker"
		}
		t.start = func() (err error) {
			proc, err = daemonProc(dir, "dockerd", bin, "--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "exec"),
				"-H", "unix://"+sock, "--pidfile", filepath.Join(dir, "docker.pid"), "--bridge=none", "--iptables=false", "--ip-masq=false")
			if err != nil {
				return err
			}
			return waitFor(socketUp(sock))
		}
		env := append(os.Environ(), "DOCKER_HOST=unix://"+sock)
		t.pull = func(ref string) *exec.Cmd {
			c := exec.Command(docker, "pull", "-q", ref)
			c.Env = env
			return c
		}
		t.clean = func(ref string) error {
			c := exec.Command(docker, "rmi", "-f", ref)
			c.Env = env
			c.Run()
			return nil
		}
	case "podman":
		if _, err := exec.LookPath("podman"); err != nil {
			return nil, err
		}
		args := []string{"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"), "--storage-driver", "overlay"}
		t.pids = nil // no daemon
		t.pull = func(ref string) *exec.Cmd {
			return exec.Command("podman", append(args, "pull", "-q", "--tls-verify=false", ref)...)
		}
		t.clean = func(ref string) error {
			exec.Command("podman", append(args, "rmi", "-f", ref)...).Run()
			return nil
		}
		t.stop = func() { exec.Command("podman", append(args, "system", "reset", "-f")...).Run() }
	default:
		return nil, fmt.Errorf("unknown tool")
	}
	return t, nil
}
