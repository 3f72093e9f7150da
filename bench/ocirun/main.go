// Command ocirun benchmarks the low-level `run` of an OCI bundle whose process is
// /bin/true, for several runc-compatible runtimes, interleaved so that the machine's
// noise hits every runtime alike.
//
// Each sample is one `<runtime> --root /run/bench-oci/<name> run --bundle B <id>`:
// wall time from fork to reaping the runtime, and ru_maxrss from wait4, i.e. the largest
// RSS of the runtime or of any descendant it reaped (runc init, the container process).
//
//	go run ./bench/ocirun -n 100 -runtimes berth-oci=bin/berth-oci,runc=/usr/sbin/runc,crun=/usr/bin/crun
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

const defaultRuntimes = "berth-oci=bin/berth-oci,runc=/usr/sbin/runc,crun=/usr/bin/crun"

type rt struct {
	Name    string `json:"name"`
	Path    string `json:"path"`
	Version string `json:"version"`
	root    string

	WallMS []float64 `json:"wall_ms"`
	RSSKiB []int64   `json:"maxrss_kib"`
}

type stats struct {
	Mean, Median, P90, Stddev, Min, Max float64
}

type result struct {
	Name      string    `json:"name"`
	Path      string    `json:"path"`
	Version   string    `json:"version"`
	Runs      int       `json:"runs"`
	MeanMS    float64   `json:"mean_ms"`
	MedianMS  float64   `json:"median_ms"`
	P90MS     float64   `json:"p90_ms"`
	StddevMS  float64   `json:"stddev_ms"`
	MinMS     float64   `json:"min_ms"`
	MaxMS     float64   `json:"max_ms"`
	VsCrun    *float64  `json:"mean_vs_crun,omitempty"`
	VsRunc    *float64  `json:"mean_vs_runc,omitempty"`
	RSSMaxMiB float64   `json:"maxrss_max_mib"`
	RSSMedMiB float64   `json:"maxrss_median_mib"`
	WallMS    []float64 `json:"wall_ms"`
	MaxRSSKiB []int64   `json:"maxrss_kib"`
}

type report struct {
	Benchmark string    `json:"benchmark"`
	Started   time.Time `json:"started"`
	Kernel    string    `json:"kernel"`
	CPUs      int       `json:"cpus"`
	N         int       `json:"n"`
	Warmup    int       `json:"warmup"`
	SpecFrom  string    `json:"spec_from"`
	Skipped   []string  `json:"skipped,omitempty"`
	Results   []result  `json:"results"`
}

func main() {
	n := flag.Int("n", 100, "measured runs per runtime")
	warmup := flag.Int("warmup", 5, "unmeasured warm-up runs per runtime")
	runtimes := flag.String("runtimes", defaultRuntimes, "comma-separated name=path list; missing binaries are skipped")
	asJSON := flag.Bool("json", false, "print machine-readable JSON instead of the table")
	busybox := flag.String("busybox", "/bin/busybox", "static busybox used as the rootfs' /bin/true")
	rootBase := flag.String("root-base", "/run/bench-oci", "state roots go to <root-base>/<name>")
	specFrom := flag.String("spec-from", "", "runtime whose `spec` output seeds config.json (default: runc if present, else the first)")
	flag.Parse()
	if *n < 1 || *warmup < 0 {
		fatalf("-n must be >= 1 and -warmup >= 0")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var rts []*rt
	var skipped []string
	for _, item := range strings.Split(*runtimes, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, path, ok := strings.Cut(item, "=")
		if !ok || name == "" || path == "" {
			fatalf("bad -runtimes entry %q (want name=path)", item)
		}
		abs, err := resolve(path)
		if err != nil {
			note := fmt.Sprintf("%s: %s not found, skipped", name, path)
			fmt.Fprintln(os.Stderr, "note:", note)
			skipped = append(skipped, note)
			continue
		}
		rts = append(rts, &rt{Name: name, Path: abs, Version: version(abs), root: filepath.Join(*rootBase, name)})
	}
	if len(rts) == 0 {
		fatalf("no runtime binary found")
	}

	seed := rts[0]
	for _, r := range rts {
		if (*specFrom == "" && r.Name == "runc") || r.Name == *specFrom {
			seed = r
		}
	}
	if *specFrom != "" && seed.Name != *specFrom {
		fatalf("-spec-from %q is not among the available runtimes", *specFrom)
	}

	bundle, err := os.MkdirTemp("", "bench-ocirun-")
	if err != nil {
		fatalf("%v", err)
	}
	defer os.RemoveAll(bundle)
	if err := makeBundle(bundle, *busybox, seed.Path); err != nil {
		os.RemoveAll(bundle)
		fatalf("building the bundle: %v", err)
	}
	for _, r := range rts {
		if err := os.MkdirAll(r.root, 0o700); err != nil {
			fatalf("%v", err)
		}
		cleanupRoot(r) // containers left by an aborted earlier run
	}

	fmt.Fprintf(os.Stderr, "bench: %d warm-up + %d measured runs each, interleaved over %s; config.json from `%s spec`\n",
		*warmup, *n, names(rts), seed.Name)

	rep := report{
		Benchmark: "oci-run-true",
		Started:   time.Now().UTC(),
		Kernel:    kernel(),
		CPUs:      runtime.NumCPU(),
		N:         *n,
		Warmup:    *warmup,
		SpecFrom:  seed.Name,
		Skipped:   skipped,
	}

	seq := 0
	for round := 0; round < *warmup+*n; round++ {
		// Rotate the order each round: a run pays for the asynchronous
		// teardown (network namespace, mounts) of the run before it, so a
		// fixed order would always hand one runtime the same neighbour.
		for k := range rts {
			r := rts[(k+round)%len(rts)]
			if ctx.Err() != nil {
				abort(rts, bundle, "interrupted")
			}
			seq++
			id := fmt.Sprintf("bench-%d-%d", os.Getpid(), seq)
			wall, _, err := runOnce(r, bundle, id)
			if err != nil {
				abort(rts, bundle, fmt.Sprintf("%s (%s) run %s failed: %v", r.Name, r.Path, id, err))
			}
			if round >= *warmup {
				r.WallMS = append(r.WallMS, wall)
			}
		}
		if !*asJSON && (round+1)%10 == 0 {
			fmt.Fprintf(os.Stderr, "  round %d/%d\n", round+1, *warmup+*n)
		}
	}

	// Peak RSS, in separate runs under GNU time: wait4's ru_maxrss for a
	// child of this (Go) process also counts the moment between fork and
	// exec, when the child is still a copy of us, so it cannot tell small
	// runtimes apart. time(1) is a small C program.
	for round := 0; round < rssRuns; round++ {
		for k := range rts {
			r := rts[(k+round)%len(rts)]
			seq++
			id := fmt.Sprintf("bench-%d-%d", os.Getpid(), seq)
			rss, err := rssOnce(r, bundle, id)
			if err != nil {
				abort(rts, bundle, fmt.Sprintf("%s (%s) run %s under time(1) failed: %v", r.Name, r.Path, id, err))
			}
			r.RSSKiB = append(r.RSSKiB, rss)
		}
	}
	for _, r := range rts {
		cleanupRoot(r)
	}

	var crunMean, runcMean float64
	for _, r := range rts {
		s := summarize(r.WallMS)
		switch r.Name {
		case "crun":
			crunMean = s.Mean
		case "runc":
			runcMean = s.Mean
		}
	}
	for _, r := range rts {
		s := summarize(r.WallMS)
		rss := make([]float64, len(r.RSSKiB))
		for i, v := range r.RSSKiB {
			rss[i] = float64(v) / 1024
		}
		rs := summarize(rss)
		res := result{
			Name: r.Name, Path: r.Path, Version: r.Version, Runs: len(r.WallMS),
			MeanMS: s.Mean, MedianMS: s.Median, P90MS: s.P90, StddevMS: s.Stddev, MinMS: s.Min, MaxMS: s.Max,
			RSSMaxMiB: rs.Max, RSSMedMiB: rs.Median,
			WallMS: r.WallMS, MaxRSSKiB: r.RSSKiB,
		}
		if crunMean > 0 {
			v := s.Mean / crunMean
			res.VsCrun = &v
		}
		if runcMean > 0 {
			v := s.Mean / runcMean
			res.VsRunc = &v
		}
		rep.Results = append(rep.Results, res)
	}

	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fatalf("%v", err)
		}
		return
	}
	printTable(os.Stdout, rep)
}

// resolve turns a path (absolute, relative, or a bare name looked up in PATH) into the
// absolute path of an existing executable.
func resolve(p string) (string, error) {
	if !strings.Contains(p, "/") {
		return exec.LookPath(p)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", err
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%s is not executable", abs)
	}
	return abs, nil
}

func version(path string) string {
	out, err := exec.Command(path, "--version").Output()
	if err != nil {
		return "?"
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}

func kernel() string {
	var u syscall.Utsname
	if syscall.Uname(&u) != nil {
		return "?"
	}
	b := make([]byte, 0, len(u.Release))
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b)
}

func names(rts []*rt) string {
	s := make([]string, len(rts))
	for i, r := range rts {
		s[i] = r.Name
	}
	return strings.Join(s, ", ")
}

// makeBundle writes dir/rootfs with busybox as /bin/busybox and /bin/true (hard link, or
// a copy across filesystems: busybox picks the applet from argv[0]), and dir/config.json
// from `<seed> spec`, changed to run /bin/true without a terminal.
func makeBundle(dir, busybox, seed string) error {
	bin := filepath.Join(dir, "rootfs", "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err
	}
	bb := filepath.Join(bin, "busybox")
	if err := copyFile(busybox, bb); err != nil {
		return fmt.Errorf("copying %s: %w (is busybox-static installed?)", busybox, err)
	}
	if err := os.Link(bb, filepath.Join(bin, "true")); err != nil {
		if err := copyFile(bb, filepath.Join(bin, "true")); err != nil {
			return err
		}
	}
	for _, d := range []string{"proc", "dev", "sys", "tmp", "etc"} {
		if err := os.MkdirAll(filepath.Join(dir, "rootfs", d), 0o755); err != nil {
			return err
		}
	}

	cmd := exec.Command(seed, "spec")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s spec: %v: %s", seed, err, strings.TrimSpace(stderr.String()))
	}
	path := filepath.Join(dir, "config.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var spec map[string]any
	if err := json.Unmarshal(raw, &spec); err != nil {
		return fmt.Errorf("parsing %s: %w", path, err)
	}
	proc, ok := spec["process"].(map[string]any)
	if !ok {
		return errors.New("config.json has no process object")
	}
	proc["args"] = []string{"/bin/true"}
	proc["terminal"] = false
	root, ok := spec["root"].(map[string]any)
	if !ok {
		return errors.New("config.json has no root object")
	}
	root["path"] = "rootfs"
	out, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o644)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// runOnce runs the bundle once in the foreground and returns the wall time in ms and
// ru_maxrss (KiB) of the runtime's process tree (inflated: see rssOnce).
func runOnce(r *rt, bundle, id string) (float64, int64, error) {
	cmd := exec.Command(r.Path, "--root", r.root, "run", "--bundle", bundle, id)
	var stderr bytes.Buffer
	cmd.Stdout = io.Discard
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = "(no stderr)"
		}
		return 0, 0, fmt.Errorf("%v\n--- stderr ---\n%s", err, msg)
	}
	var rss int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss // KiB on Linux
	}
	return float64(wall.Nanoseconds()) / 1e6, rss, nil
}

// cleanupRoot force-deletes every container in the runtime's bench root. `run` removes
// its container on exit, so this only matters after a failure or an interrupt.
func cleanupRoot(r *rt) {
	out, err := exec.Command(r.Path, "--root", r.root, "list", "-q").Output()
	if err != nil {
		return
	}
	for _, id := range strings.Fields(string(out)) {
		_ = exec.Command(r.Path, "--root", r.root, "delete", "-f", id).Run()
	}
}

func abort(rts []*rt, bundle, msg string) {
	for _, r := range rts {
		cleanupRoot(r)
	}
	os.RemoveAll(bundle)
	fatalf("%s", msg)
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "ocirun: "+format+"\n", args...)
	os.Exit(1)
}

func summarize(xs []float64) stats {
	if len(xs) == 0 {
		return stats{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	var sum float64
	for _, x := range s {
		sum += x
	}
	mean := sum / float64(len(s))
	var ss float64
	for _, x := range s {
		ss += (x - mean) * (x - mean)
	}
	sd := 0.0
	if len(s) > 1 {
		sd = math.Sqrt(ss / float64(len(s)-1))
	}
	return stats{
		Mean: mean, Median: quantile(s, 0.5), P90: quantile(s, 0.9), Stddev: sd,
		Min: s[0], Max: s[len(s)-1],
	}
}

// quantile of sorted s, linear interpolation between closest ranks.
func quantile(s []float64, q float64) float64 {
	if len(s) == 1 {
		return s[0]
	}
	pos := q * float64(len(s)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	return s[lo] + (s[hi]-s[lo])*(pos-float64(lo))
}

func printTable(w io.Writer, rep report) {
	fmt.Fprintf(w, "OCI `run` of a bundle executing /bin/true — %d runs each after %d warm-up, interleaved; kernel %s, %d CPUs\n",
		rep.N, rep.Warmup, rep.Kernel, rep.CPUs)
	for _, r := range rep.Results {
		fmt.Fprintf(w, "  %-10s %s (%s)\n", r.Name, r.Path, r.Version)
	}
	for _, s := range rep.Skipped {
		fmt.Fprintf(w, "  skipped: %s\n", s)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "runtime\tmean ms\tmedian ms\tp90 ms\tstddev ms\tmean/crun\tmean/runc\tmaxRSS max MiB\tmaxRSS median MiB\t")
	ratio := func(p *float64) string {
		if p == nil {
			return "-"
		}
		return fmt.Sprintf("%.2fx", *p)
	}
	for _, r := range rep.Results {
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%.1f\t%.1f\t%s\t%s\t%.1f\t%.1f\t\n",
			r.Name, r.MeanMS, r.MedianMS, r.P90MS, r.StddevMS, ratio(r.VsCrun), ratio(r.VsRunc), r.RSSMaxMiB, r.RSSMedMiB)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nmaxRSS: from GNU time(1) over 10 extra runs each = largest RSS of the runtime or any process it waited for (not a sum).")
}

// rssRuns is how many runs per runtime measure peak RSS.
const rssRuns = 10

// rssOnce runs the runtime under GNU time and returns its maximum
// resident set size in KiB: the largest of the runtime and the processes
// it waited for.
func rssOnce(r *rt, bundle, id string) (int64, error) {
	cmd := exec.Command("/usr/bin/time", "-f", "BENCH-RSS %M", r.Path, "--root", r.root, "run", "--bundle", bundle, id)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	for _, line := range strings.Split(stderr.String(), "\n") {
		if v, ok := strings.CutPrefix(line, "BENCH-RSS "); ok {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("no RSS in time(1) output: %q", stderr.String())
}
