package daemon_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	reg "github.com/berth-dev/berth/internal/testutil/registry"
)

// busybox pushes a busybox image and returns its reference.
func busybox(t *testing.T) string {
	r := reg.Start(t)
	ref := r.Ref("it/busybox:1")
	reg.Push(t, ref, reg.BusyboxImage(t))
	return ref
}

// runExit runs the berth CLI and returns stdout, stderr and exit status.
func (d *daemon) runExit(args ...string) (string, string, int) {
	d.t.Helper()
	out, errOut, err := d.run(binary(d.t, "BERTH", "berth"), args...)
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		d.t.Fatal(err)
	}
	return out, errOut, code
}

// TestRunSignalProxy: a foreground run forwards the signals it gets to the
// container (docker run --sig-proxy), from the start of the run.
func TestRunSignalProxy(t *testing.T) {
	d := startDaemon(t, "")
	img := busybox(t)
	d.berth("pull", img)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t, "BERTH", "berth"), "run", "--rm", img, "sh", "-c",
		`trap 'echo got TERM; exit 7' TERM; echo ready; while :; do sleep 0.1; done`)
	cmd.Env = append(os.Environ(), "BERTH_HOST=unix://"+d.sock)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(stdout)
	if line, err := r.ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	rest, _ := io.ReadAll(r)
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 || string(rest) != "got TERM\n" {
		t.Errorf("after SIGTERM to the CLI: %v, output %q; want exit 7 and \"got TERM\"", err, rest)
	}
}

func TestRunForeground(t *testing.T) {
	d := startDaemon(t, "")
	img := busybox(t)
	out, errOut, code := d.runExit("run", "--rm", img, "sh", "-c", "echo out; echo err >&2; exit 3")
	if code != 3 || out != "out\n" || !strings.Contains(errOut, "err\n") {
		t.Errorf("run: code %d, stdout %q, stderr %q", code, out, errOut)
	}
	// Unable to find the image locally: run pulls it.
	if !strings.Contains(errOut, "Unable to find image") {
		t.Errorf("first run did not pull: %q", errOut)
	}
	if out := d.berth("ps", "-aq"); strings.TrimSpace(out) != "" {
		t.Errorf("--rm left %q", out)
	}
	// docker run --rm answers before the removal's commit: right after
	// it, the container is gone for every reader, and its name is free.
	for i := 0; i < 5; i++ {
		d.berth("run", "--rm", "--name", "again", img, "true")
		if _, _, code := d.runExit("inspect", "again"); code == 0 {
			t.Fatalf("run %d: inspect found the removed container", i)
		}
		if out := d.berth("ps", "-aq", "--filter", "name=again"); strings.TrimSpace(out) != "" {
			t.Fatalf("run %d: ps lists the removed container: %q", i, out)
		}
	}
	out = d.berth("run", "--rm", "-e", "FOO=bar", "-w", "/work/dir", "-u", "1000:1000", "--hostname", "box", img,
		"sh", "-c", `echo $FOO $(pwd) $(id -u):$(id -g) $(hostname) $(cat /etc/hostname)`)
	if strings.TrimSpace(out) != "bar /work/dir 1000:1000 box box" {
		t.Errorf("env/workdir/user/hostname: %q", out)
	}
	// Docker's defaults: capabilities, masked /proc paths, read-only sysfs.
	out = d.berth("run", "--rm", img, "sh", "-c", "grep CapEff /proc/self/status; cat /proc/kcore | wc -c; touch /sys/x 2>&1 || true")
	if !strings.Contains(out, "00000000a80425fb") || !strings.Contains(out, "\n0\n") || !strings.Contains(out, "Read-only file system") {
		t.Errorf("defaults: %q", out)
	}
	// A --rm container's writable layer is a volatile overlay (it is
	// thrown away: no sync of the disk when it goes); a kept one is not.
	out = d.berth("run", "--rm", img, "sh", "-c", `awk '$5 == "/" {print $NF}' /proc/self/mountinfo`)
	if !strings.Contains(out, "volatile") || !strings.Contains(out, "upperdir=") {
		t.Errorf("--rm rootfs: %q, want a volatile overlay", out)
	}
	id := strings.TrimSpace(d.berth("run", "-d", img, "sh", "-c", `awk '$5 == "/" {print $NF}' /proc/self/mountinfo`))
	d.berth("wait", id)
	if out := d.berth("logs", id); strings.Contains(out, "volatile") || !strings.Contains(out, "upperdir=") {
		t.Errorf("kept container's rootfs: %q, want a plain overlay", out)
	}
	d.berth("rm", id)
	// A command done before its start returns: no running state is
	// recorded for it, but its exit and what it ran are, as for any other.
	out, _, code = d.runExit("run", "--name", "quick", img, "sh", "-c", "echo quick; exit 5")
	if code != 5 || out != "quick\n" {
		t.Errorf("short run: code %d, stdout %q", code, out)
	}
	got := d.inspectC("quick", "{{.State.Status}} {{.State.ExitCode}} {{.Path}} {{.Args}}|{{.State.StartedAt}}|{{.State.FinishedAt}}")
	f := strings.Split(got, "|")
	if len(f) != 3 || f[0] != "exited 5 sh [-c echo quick; exit 5]" || strings.HasPrefix(f[1], "0001") || f[2] < f[1] {
		t.Errorf("short run's state: %q", got)
	}
	if out := d.berth("logs", "quick"); out != "quick\n" {
		t.Errorf("short run's log: %q", out)
	}
	d.berth("rm", "quick")
	// No network: a namespace of its own with lo up (as Docker's), gone
	// with the container.
	out = d.berth("run", "--rm", "--network", "none", img, "sh", "-c", "ip addr show lo; ip link | grep -c '^[0-9]'")
	if !strings.Contains(out, "LOOPBACK,UP") || !strings.Contains(out, "inet 127.0.0.1/8") || !strings.HasSuffix(out, "\n1\n") {
		t.Errorf("--network none: %q, want lo up and alone", out)
	}
	ents, _ := os.ReadDir(filepath.Join(d.state, "netns-none"))
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "pool-") {
			t.Errorf("namespace left by a removed container: %s", e.Name())
		}
	}
	// The shim that started it (berth-shim-rt, the runtime linked in) has
	// handed over to the plain berth-shim once the container runs, and
	// the runtime's state of a removed container is gone with it.
	id = strings.TrimSpace(d.berth("run", "-d", img, "sleep", "60"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(d.state, "shims", id, "shim.pid"))
		exe, _ := os.Readlink("/proc/" + strings.TrimSpace(string(b)) + "/exe")
		if filepath.Base(exe) == "berth-shim" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the shim is still %q", exe)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if out := d.berth("exec", id, "echo", "handed-over"); out != "handed-over\n" {
		t.Errorf("exec after the hand-over: %q", out)
	}
	d.berth("rm", "-f", id)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		// (The shim's delete may still be running; .seccomp-cache stays.)
		if _, err := os.Stat(filepath.Join(d.state, "runtime", id)); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the runtime's state of a removed container is left")
		}
	}
	out = d.berth("run", "--rm", "--read-only", "--tmpfs", "/scratch", img, "sh", "-c", "touch /x 2>&1; touch /scratch/y && echo tmpfs-ok")
	if !strings.Contains(out, "Read-only file system") || !strings.Contains(out, "tmpfs-ok") {
		t.Errorf("--read-only/--tmpfs: %q", out)
	}
	_, errOut, code = d.runExit("run", "--rm", img, "/no/such/binary")
	if code == 0 || !strings.Contains(errOut, "/no/such/binary") {
		t.Errorf("missing binary: code %d, %q", code, errOut)
	}
	_, errOut, code = d.runExit("run", "--restart", "sometimes", img, "true")
	if code == 0 || !strings.Contains(errOut, "invalid restart policy") {
		t.Errorf("bad restart policy: %d %q", code, errOut)
	}
}

func TestDetachedLifecycle(t *testing.T) {
	d := startDaemon(t, "")
	img := busybox(t)
	d.berth("pull", img)
	id := strings.TrimSpace(d.berth("run", "-d", "--name", "ticker", img, "sh", "-c", "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.1; done"))
	if len(id) != 64 {
		t.Fatalf("run -d printed %q", id)
	}
	if out := d.berth("ps", "--format", "{{.Names}} {{.State}}"); !strings.Contains(out, "ticker running") {
		t.Errorf("ps: %q", out)
	}
	msg := d.berthFail("run", "-d", "--name", "ticker", img, "true")
	if !strings.Contains(msg, "is already in use") {
		t.Errorf("duplicate name: %q", msg)
	}
	time.Sleep(500 * time.Millisecond)
	if out := d.berth("logs", "--tail", "2", "ticker"); strings.Count(out, "line ") != 2 {
		t.Errorf("logs --tail 2: %q", out)
	}
	if msg := d.berthFail("rm", "ticker"); !strings.Contains(msg, "stop the container before removing") {
		t.Errorf("rm of a running container: %q", msg)
	}
	start := time.Now()
	d.berth("stop", "-t", "1", "ticker")
	if time.Since(start) > 8*time.Second {
		t.Errorf("stop -t 1 took %v", time.Since(start))
	}
	if out := d.inspectC("ticker", "{{.State.Status}} {{.State.ExitCode}}"); out != "exited 137" {
		t.Errorf("after stop: %q", out)
	}
	// start again, kill with a signal the shell handles by dying
	d.berth("start", "ticker")
	if out := d.inspectC("ticker", "{{.State.Running}}"); out != "true" {
		t.Errorf("restart: %q", out)
	}
	d.berth("kill", "-s", "KILL", "ticker")
	if out := d.berth("wait", "ticker"); strings.TrimSpace(out) != "137" {
		t.Errorf("wait after kill: %q", out)
	}
	d.berth("rename", "ticker", "tocker")
	d.berth("rm", "tocker")
	if out := d.berth("ps", "-aq"); strings.TrimSpace(out) != "" {
		t.Errorf("left: %q", out)
	}
	if blobs, snaps, _ := d.counts(); snaps != 1 || blobs != 3 {
		t.Errorf("after rm: %d snapshots, %d blobs (want the image's 1 and 3)", snaps, blobs)
	}
	if b, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(b), id) {
		t.Errorf("a mount of the container is left")
	}
}

func (d *daemon) inspectC(name, tmpl string) string {
	d.t.Helper()
	return strings.TrimSpace(d.berth("container", "inspect", "--format", tmpl, name))
}

// The shim keeps containers through a daemon crash; the restarted daemon
// finds them running, and learns the exit of those that ended meanwhile.
func TestContainersSurviveDaemonRestart(t *testing.T) {
	d := startDaemon(t, "")
	img := busybox(t)
	d.berth("pull", img)
	d.berth("run", "-d", "--name", "long", img, "sleep", "300")
	d.berth("run", "-d", "--name", "short", img, "sh", "-c", "sleep 1; exit 5")
	pid, _ := strconv.Atoi(d.inspectC("long", "{{.State.Pid}}"))
	d.kill()
	time.Sleep(2 * time.Second)
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("container process %d died with the daemon: %v", pid, err)
	}
	d.start()
	if out := d.inspectC("long", "{{.State.Status}} {{.State.Pid}}"); out != "running "+strconv.Itoa(pid) {
		t.Errorf("after restart, long: %q", out)
	}
	if out := d.inspectC("short", "{{.State.Status}} {{.State.ExitCode}}"); out != "exited 5" {
		t.Errorf("after restart, short: %q", out)
	}
	d.berth("stop", "-t", "1", "long")
	if out := d.inspectC("long", "{{.State.Status}}"); out != "exited" {
		t.Errorf("stop after restart: %q", out)
	}
	d.berth("rm", "long", "short")
}

func TestRestartPolicy(t *testing.T) {
	d := startDaemon(t, "")
	img := busybox(t)
	d.berth("pull", img)
	d.berth("run", "-d", "--name", "flaky", "--restart", "on-failure:2", img, "sh", "-c", "exit 1")
	deadline := time.Now().Add(20 * time.Second)
	for {
		out := d.inspectC("flaky", "{{.RestartCount}} {{.State.Status}}")
		if out == "2 exited" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("on-failure:2 never settled: %q", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	d.berth("rm", "flaky")
}

func TestDockerCLIRun(t *testing.T) {
	d := startDaemon(t, "")
	img := busybox(t)
	d.docker("pull", img)
	out := d.docker("run", "--rm", img, "echo", "hello from docker")
	if out != "hello from docker\n" {
		t.Errorf("docker run: %q", out)
	}
	_, _, err := d.run("docker", "run", "--rm", img, "sh", "-c", "exit 4")
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 4 {
		t.Errorf("docker run exit status: %v", err)
	}
	id := strings.TrimSpace(d.docker("run", "-d", "--name", "web", img, "sh", "-c", "echo ready; sleep 300"))
	if out := d.docker("ps", "--format", "{{.ID}} {{.Names}}"); !strings.Contains(out, id[:12]+" web") {
		t.Errorf("docker ps: %q", out)
	}
	time.Sleep(300 * time.Millisecond)
	if out := d.docker("logs", "web"); out != "ready\n" {
		t.Errorf("docker logs: %q", out)
	}
	d.docker("stop", "-t", "1", "web")
	d.docker("rm", "web")
	if out := d.docker("ps", "-aq"); strings.TrimSpace(out) != "" {
		t.Errorf("left: %q", out)
	}
}

func TestExec(t *testing.T) {
	d := startDaemon(t, "")
	img := busybox(t)
	d.berth("pull", img)
	d.berth("run", "-d", "--name", "ex", "-e", "BASE=1", img, "sleep", "300")
	out, _, code := d.runExit("exec", "-e", "X=2", "-w", "/tmp", "ex", "sh", "-c", "echo $BASE $X $(pwd); exit 6")
	if code != 6 || out != "1 2 /tmp\n" {
		t.Errorf("exec: code %d, %q", code, out)
	}
	if out := d.berth("exec", "-u", "nobody", "ex", "id", "-u"); out != "65534\n" {
		t.Errorf("exec -u nobody: %q", out)
	}
	if msg := d.berthFail("exec", "-u", "nosuchuser", "ex", "true"); !strings.Contains(msg, "unable to find user nosuchuser") {
		t.Errorf("exec unknown user: %q", msg)
	}
	if out := d.docker("exec", "ex", "cat", "/etc/hostname"); len(strings.TrimSpace(out)) != 12 {
		t.Errorf("docker exec: %q", out)
	}
	d.berth("stop", "-t", "0", "ex")
	if msg := d.berthFail("exec", "ex", "true"); !strings.Contains(msg, "is not running") {
		t.Errorf("exec in a stopped container: %q", msg)
	}
	d.berth("rm", "ex")
}

func TestVolumes(t *testing.T) {
	d := startDaemon(t, "")
	r := reg.Start(t)
	img := r.Ref("it/vol:1")
	reg.Push(t, img, reg.BusyboxImage(t, reg.WithLayer(reg.Dir("seed", 0o755), reg.Reg("seed/from-image", 0o644, "image data\n"), reg.Dir("anon", 0o755), reg.Reg("anon/a", 0o644, "a\n")), reg.WithVolumes("/anon")))
	d.berth("pull", img)
	if out := d.berth("volume", "create", "data"); out != "data\n" {
		t.Errorf("volume create: %q", out)
	}
	d.berth("run", "--rm", "-v", "data:/data", img, "sh", "-c", "echo kept > /data/f")
	if out := d.berth("run", "--rm", "-v", "data:/data:ro", img, "sh", "-c", "cat /data/f; touch /data/g 2>&1 || true"); !strings.Contains(out, "kept") || !strings.Contains(out, "Read-only") {
		t.Errorf("volume content / ro: %q", out)
	}
	// A new named volume gets the image's content at its path.
	if out := d.berth("run", "--rm", "-v", "fresh:/seed", img, "cat", "/seed/from-image"); out != "image data\n" {
		t.Errorf("copy-up: %q", out)
	}
	// docker -v with a volume, and a bind mount of a host dir.
	host := t.TempDir()
	os.WriteFile(host+"/h", []byte("host\n"), 0o644)
	if out := d.docker("run", "--rm", "-v", "data:/data", "-v", host+":/host:ro", img, "cat", "/data/f", "/host/h"); out != "kept\nhost\n" {
		t.Errorf("docker -v: %q", out)
	}
	// The image's VOLUME makes an anonymous volume, removed by rm -v.
	d.berth("run", "-d", "--name", "v1", "-v", "data:/data", img, "sleep", "300")
	anon := d.inspectC("v1", `{{range .Mounts}}{{if eq .Destination "/anon"}}{{.Name}}{{end}}{{end}}`)
	if len(anon) != 64 {
		t.Fatalf("anonymous volume for /anon: %q", anon)
	}
	if out := d.berth("exec", "v1", "cat", "/anon/a"); out != "a\n" {
		t.Errorf("anonymous volume content: %q", out)
	}
	if msg := d.berthFail("volume", "rm", "data"); !strings.Contains(msg, "volume is in use") {
		t.Errorf("rm of a volume in use: %q", msg)
	}
	d.berth("rm", "-f", "-v", "v1")
	if out := d.berth("volume", "ls", "-q"); strings.Contains(out, anon) || !strings.Contains(out, "data") {
		t.Errorf("after rm -v: %q", out)
	}
	if msg := d.berthFail("run", "--rm", "-v", "rel/path:/x", img, "true"); !strings.Contains(msg, "invalid characters") {
		t.Errorf("bad volume name: %q", msg)
	}
	d.berth("volume", "rm", "data", "fresh")
	if out := d.berth("volume", "ls", "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("volumes left: %q", out)
	}
}

func TestStats(t *testing.T) {
	d := startDaemon(t, "")
	img := busybox(t)
	d.berth("pull", img)
	d.berth("run", "-d", "--name", "busy", "-m", "64m", "--pids-limit", "50", img, "sh", "-c", "while true; do :; done")
	out := d.berth("stats", "--no-stream", "--format", "{{.Name}} {{.CPUPerc}} {{.MemUsage}} {{.PIDs}}", "busy")
	f := strings.Fields(out)
	if len(f) != 6 || f[0] != "busy" || f[4] != "64MiB" || f[5] != "1" {
		t.Fatalf("stats: %q", out)
	}
	if cpu, _ := strconv.ParseFloat(strings.TrimSuffix(f[1], "%"), 64); cpu < 20 {
		t.Errorf("a busy loop shows %s CPU", f[1])
	}
	if out := d.docker("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}"); !strings.Contains(out, "busy") || !strings.Contains(out, "64MiB") {
		t.Errorf("docker stats: %q", out)
	}
	d.berth("rm", "-f", "busy")
	if msg := d.berthFail("stats", "--no-stream", "busy"); !strings.Contains(msg, "No such container") {
		t.Errorf("stats of a removed container: %q", msg)
	}
}

// A shim killed with SIGKILL: berthd marks the container exited with a
// reason and cleans up its mount.
func TestShimKilled(t *testing.T) {
	d := startDaemon(t, "")
	img := busybox(t)
	d.berth("pull", img)
	id := strings.TrimSpace(d.berth("run", "-d", "--name", "orphan", img, "sleep", "300"))
	// The shim may have started as a spare, whose command line names no
	// container: its directory says which process it is.
	b, _ := os.ReadFile(filepath.Join(d.state, "shims", id, "shim.pid"))
	shim, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if b, _ := os.ReadFile("/proc/" + strconv.Itoa(shim) + "/cmdline"); shim == 0 || !strings.Contains(string(b), "berth-shim") {
		t.Fatalf("no shim found for the container (shim.pid %d)", shim)
	}
	pid, _ := strconv.Atoi(d.inspectC("orphan", "{{.State.Pid}}"))
	syscall.Kill(shim, syscall.SIGKILL)
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := d.inspectC("orphan", "{{.State.Status}}|{{.State.ExitCode}}|{{.State.Error}}")
		if strings.HasPrefix(out, "exited|") {
			if !strings.Contains(out, "berth-shim") {
				t.Errorf("no reason given: %q", out)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("container still %q after its shim died", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if b, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(b), id) {
		t.Error("the rootfs mount is left")
	}
	time.Sleep(200 * time.Millisecond)
	// Dead means gone or a zombie (this VM's pid 1 does not reap).
	if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil && !strings.Contains(string(b), ") Z ") {
		t.Errorf("the container's process %d runs on unsupervised: %s", pid, b)
	}
	d.berth("rm", "-f", "orphan")
}

func pidsOf(name string) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if b, _ := os.ReadFile("/proc/" + e.Name() + "/comm"); strings.TrimSpace(string(b)) == name {
			out = append(out, pid)
		}
	}
	return out
}

func TestTopUpdateAttachLogsFollow(t *testing.T) {
	d := startDaemon(t, "")
	img := busybox(t)
	d.berth("pull", img)
	d.berth("run", "-d", "--name", "tu", "-m", "64m", img, "sh", "-c", "echo first; sleep 1; echo second; sleep 300")
	out := d.berth("top", "tu")
	if !strings.Contains(out, "PID") || !strings.Contains(out, "sleep") {
		t.Errorf("top: %q", out)
	}
	if out := d.docker("top", "tu"); !strings.Contains(out, "sleep") {
		t.Errorf("docker top: %q", out)
	}
	d.berth("update", "-m", "128m", "--restart", "on-failure:3", "tu")
	if out := d.inspectC("tu", "{{.HostConfig.Memory}} {{.HostConfig.RestartPolicy.Name}}"); out != "134217728 on-failure" {
		t.Errorf("update recorded: %q", out)
	}
	if out := d.berth("stats", "--no-stream", "--format", "{{.MemUsage}}", "tu"); !strings.Contains(out, "128MiB") {
		t.Errorf("update applied: %q", out)
	}
	// logs -f follows until the container ends.
	done := make(chan string)
	go func() {
		out, _, _ := d.run(binary(t, "BERTH", "berth"), "logs", "-f", "tu")
		done <- out
	}()
	time.Sleep(1500 * time.Millisecond)
	d.berth("stop", "-t", "0", "tu")
	select {
	case out := <-done:
		if out != "first\nsecond\n" {
			t.Errorf("logs -f: %q", out)
		}
	case <-time.After(10 * time.Second):
		t.Error("logs -f did not end with the container")
	}
	if msg := d.berthFail("attach", "tu"); !strings.Contains(msg, "stopped container") {
		t.Errorf("attach to a stopped container: %q", msg)
	}
	if msg := d.berthFail("update", "--restart", "sometimes", "tu"); !strings.Contains(msg, "invalid restart policy") {
		t.Errorf("bad update: %q", msg)
	}
	d.berth("rm", "tu")
}

// docker exec -it and run -it through a pty (script(1) gives the CLIs a
// terminal), and the one-letter container name.
func TestTTY(t *testing.T) {
	if _, err := exec.LookPath("script"); err != nil {
		t.Skip("script(1) not installed")
	}
	d := startDaemon(t, "")
	img := busybox(t)
	d.berth("pull", img)
	d.berth("run", "-d", "--name", "x", img, "sleep", "300")
	berthBin := binary(t, "BERTH", "berth")
	for name, cmdline := range map[string]string{
		"berth exec -it":  berthBin + " exec -it x sh -c 'tty; echo ok'",
		"docker exec -it": "docker exec -it x sh -c 'tty; echo ok'",
		"berth run -it":   berthBin + " run --rm -it " + img + " sh -c 'tty; echo ok'",
	} {
		out, _, err := d.run("script", "-qec", cmdline, "/dev/null")
		// The docker CLI writes a NUL to the terminal's input, which the
		// pty echoes as "^@" somewhere in the output: not ours to judge.
		out = strings.ReplaceAll(strings.ReplaceAll(out, "\r", ""), "^@", "")
		if err != nil || !strings.Contains(out, "/dev/pts/0\nok\n") {
			t.Errorf("%s: %v %q", name, err, out)
		}
	}
	d.berth("rm", "-f", "x")
}

// Bad values fail the create with a clear error and leave nothing.
func TestCreateBadInput(t *testing.T) {
	d := startDaemon(t, "")
	img := busybox(t)
	d.berth("pull", img)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--cap-add", "BOGUS"}, "BOGUS"},
		{[]string{"--memory", "abc"}, "invalid argument \"abc\""},
		{[]string{"--cpus", "-1"}, "--cpus"},
		{[]string{"--security-opt", "no-such-opt"}, "no-such-opt"},
		{[]string{"--tmpfs", "/t:size=lots"}, "size=lots"},
		{[]string{"-v", "rel/path:/x"}, "invalid characters"},
		{[]string{"--restart", "always", "--rm"}, "AutoRemove"},
		{[]string{"--name", "bad name!"}, "invalid container name"},
		{[]string{"--log-opt", "max-size=huge"}, "max-size"},
	} {
		args := append(append([]string{"create"}, tc.args...), img, "true")
		msg := d.berthFail(args...)
		if !strings.Contains(msg, tc.want) {
			t.Errorf("create %v: %q, want %q", tc.args, msg, tc.want)
		}
	}
	if msg := d.berthFail("create", "no-such-image-here:1"); !strings.Contains(msg, "no-such-image-here") {
		t.Errorf("unknown image: %q", msg)
	}
	if out := d.berth("ps", "-aq"); strings.TrimSpace(out) != "" {
		t.Errorf("half-made containers: %q", out)
	}
	if out := d.berth("volume", "ls", "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("volumes left: %q", out)
	}
	if _, snaps, _ := d.counts(); snaps != 1 {
		t.Errorf("%d snapshots, want the image's 1", snaps)
	}
}

func TestCopyAndExport(t *testing.T) {
	d := startDaemon(t, "")
	img := busybox(t)
	d.berth("pull", img)
	d.berth("run", "-d", "--name", "cp", img, "sh", "-c", "mkdir -p /work/sub && echo inside > /work/sub/f && sleep 300")
	time.Sleep(300 * time.Millisecond)
	dir := t.TempDir()
	// container -> host: into a directory, and under a new name
	d.berth("cp", "cp:/work", dir)
	if b, err := os.ReadFile(dir + "/work/sub/f"); err != nil || string(b) != "inside\n" {
		t.Errorf("cp from (dir): %q %v", b, err)
	}
	d.berth("cp", "cp:/work/sub/f", dir+"/renamed")
	if b, err := os.ReadFile(dir + "/renamed"); err != nil || string(b) != "inside\n" {
		t.Errorf("cp from (file): %q %v", b, err)
	}
	// host -> container
	os.WriteFile(dir+"/hostfile", []byte("from host\n"), 0o640)
	d.berth("cp", dir+"/hostfile", "cp:/work/")
	d.berth("cp", dir+"/hostfile", "cp:/work/other-name")
	if out := d.berth("exec", "cp", "cat", "/work/hostfile", "/work/other-name"); out != "from host\nfrom host\n" {
		t.Errorf("cp to: %q", out)
	}
	// the real docker CLI uses the same endpoints
	d.docker("cp", "cp:/work/sub/f", dir+"/via-docker")
	if b, _ := os.ReadFile(dir + "/via-docker"); string(b) != "inside\n" {
		t.Errorf("docker cp: %q", b)
	}
	if msg := d.berthFail("cp", "cp:/no/such", dir); !strings.Contains(msg, "Could not find the file /no/such") {
		t.Errorf("cp of a missing path: %q", msg)
	}
	// stopped containers too; export the whole filesystem
	d.berth("stop", "-t", "0", "cp")
	d.berth("cp", "cp:/work/hostfile", dir+"/after-stop")
	tarPath := dir + "/export.tar"
	d.berth("export", "-o", tarPath, "cp")
	out, err := exec.Command("tar", "-tf", tarPath).Output()
	if err != nil || !strings.Contains(string(out), "bin/busybox") || !strings.Contains(string(out), "work/sub/f") {
		t.Errorf("export: %v, %d bytes of listing", err, len(out))
	}
	d.berth("rm", "cp")
	if m := mountsUnder(d.state); len(m) > 0 {
		t.Errorf("a temporary rootfs mount is left: %q", m)
	}
}

func TestDiff(t *testing.T) {
	d := startDaemon(t, "")
	img := busybox(t)
	d.berth("pull", img)
	d.berth("run", "--name", "df", img, "sh", "-c", "echo new > /newfile; echo x >> /etc/passwd; rm /bin/vi")
	out := d.berth("diff", "df")
	for _, want := range []string{"A /newfile", "C /etc/passwd", "D /bin/vi", "C /etc"} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("diff lacks %q:\n%s", want, out)
		}
	}
	if out := d.docker("diff", "df"); !strings.Contains(out, "A /newfile") {
		t.Errorf("docker diff: %q", out)
	}
	d.berth("rm", "df")
}

// TestRunStdinOnceAndStartFailure: docker run -i ends the container's
// stdin with the client's, and a command that cannot start gives Docker's
// exit codes, and with --rm leaves no container.
func TestRunStdinOnceAndStartFailure(t *testing.T) {
	d := startDaemon(t, "")
	img := busybox(t)
	d.berth("pull", "-q", img)
	for _, cli := range []string{binary(t, "BERTH", "berth"), "docker"} {
		bin, err := exec.LookPath(cli)
		if err != nil {
			t.Logf("%s: not installed", cli)
			continue
		}
		cmd := exec.Command(bin, "run", "--rm", "-i", img, "sh", "-c", "cat; echo done")
		cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+d.sock, "BERTH_HOST=unix://"+d.sock, "DOCKER_CONFIG="+d.config)
		cmd.Stdin = strings.NewReader("line1\nline2\n")
		out, err := cmd.Output()
		if err != nil || string(out) != "line1\nline2\ndone\n" {
			t.Errorf("%s run -i: %v: %q", cli, err, out)
		}
	}
	_, errOut, code := d.runExit("run", "--rm", img, "nonexistent")
	if code != 127 || !strings.Contains(errOut, `exec "nonexistent": executable file not found`) {
		t.Errorf("run missing command: code %d, stderr %q", code, errOut)
	}
	_, errOut, code = d.runExit("run", "--name", "notexec", img, "/etc/passwd")
	if code != 126 || !strings.Contains(errOut, "/etc/passwd") {
		t.Errorf("run non-executable: code %d, stderr %q", code, errOut)
	}
	if got := strings.TrimSpace(d.berth("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "notexec")); got != "created 126" {
		t.Errorf("failed start: state %q, want created 126", got)
	}
	d.berth("rm", "notexec")
	// The --rm container is removed in the background.
	deadline := time.Now().Add(10 * time.Second)
	for strings.TrimSpace(d.berth("ps", "-aq")) != "" {
		if time.Now().After(deadline) {
			t.Fatalf("--rm container whose start failed is left: %s", d.berth("ps", "-a"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestOOMKilled: a container the kernel's OOM killer ends exits 137 and
// is marked OOMKilled, as Docker reports it.
func TestOOMKilled(t *testing.T) {
	d := startDaemon(t, "")
	img := busybox(t)
	d.berth("pull", "-q", img)
	_, _, code := d.runExit("run", "--name", "oom", "-m", "8m", "--memory-swap", "8m", img, "sh", "-c", "dd if=/dev/zero of=/dev/null bs=32M count=1")
	if code != 137 {
		t.Errorf("exit code %d, want 137", code)
	}
	if got := strings.TrimSpace(d.docker("inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}}", "oom")); got != "true 137" {
		t.Errorf("docker inspect: %q", got)
	}
	// A container killed by a signal, not for memory, is not OOMKilled.
	d.berth("run", "-d", "--name", "killed", "-m", "64m", img, "sleep", "600")
	d.berth("kill", "killed")
	d.berth("wait", "killed")
	if got := strings.TrimSpace(d.berth("inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}}", "killed")); got != "false 137" {
		t.Errorf("killed: %q", got)
	}
}
