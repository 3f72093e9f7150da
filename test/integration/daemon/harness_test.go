// Package daemon_test drives berthd end to end (images, containers): the real
// berthd and berth binaries, the real docker CLI, and the Debian
// distribution registry on loopback.
package daemon_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/snapshot"
	"github.com/berth-dev/berth/internal/testutil"
)

// daemon is a berthd on a private root, state dir and socket.
type daemon struct {
	t      *testing.T
	root   string
	state  string
	sock   string
	config string // docker config dir for the CLIs (credentials)
	cmd    *exec.Cmd
	log    *bytes.Buffer
	extra  string // extra TOML
}

func binary(t *testing.T, env, name string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		return p
	}
	p, err := filepath.Abs("../../../bin/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Skipf("%s not built (run make build, or set %s)", name, env)
	}
	return p
}

// startDaemon runs berthd with an optional config snippet.
func startDaemon(t *testing.T, config string) *daemon {
	t.Helper()
	testutil.RequireRoot(t)
	dir := t.TempDir()
	// As /run and /var/lib are: a pod's user namespace root must be able
	// to reach its rootfs (t.TempDir's directories are 0700).
	for _, p := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(p, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	d := &daemon{t: t, root: filepath.Join(dir, "root"), state: filepath.Join(dir, "run"), config: filepath.Join(dir, "docker"), extra: config}
	d.sock = filepath.Join(d.state, "berth.sock")
	d.start()
	t.Cleanup(func() {
		// A test that failed half-way must not leave running containers,
		// bridges or addresses to the next: remove what is left first.
		if d.cmd != nil && d.cmd.ProcessState == nil {
			if out, _, err := d.run(binary(t, "BERTH", "berth"), "ps", "-aq", "--no-trunc"); err == nil && strings.TrimSpace(out) != "" {
				d.run(binary(t, "BERTH", "berth"), append([]string{"rm", "-f"}, strings.Fields(out)...)...)
			}
			d.run(binary(t, "BERTH", "berth"), "network", "prune", "-f")
		}
		d.stop()
		// Whatever the test did, no mount may be left under the root.
		if b, _ := os.ReadFile("/proc/self/mountinfo"); bytes.Contains(b, []byte(d.root)) {
			t.Errorf("mounts left under %s", d.root)
		}
	})
	return d
}

func (d *daemon) start() {
	t := d.t
	t.Helper()
	cfgPath := filepath.Join(filepath.Dir(d.root), "berth.toml")
	cfg := d.extra
	if !strings.Contains(cfg, "[network]") {
		// Test daemons keep off the default bridge of a berthd that may
		// run on the machine (make demo starts one): same bridge, separate
		// leases, would hand out the same addresses.
		cfg += "\n[network]\ndefault_bridge = \"berthtest0\"\ndefault_subnet = \"10.86.0.0/16\"\n"
	}
	if !strings.Contains(cfg, "[containers]") {
		// The rootfs made ahead for the next container is one more
		// snapshot and mount, which the counts of most tests would have
		// to allow for: only the tests that are about it have it
		// (TestRootfsAhead, TestKillDaemonLoop).
		cfg += "\n[containers]\nrootfs_ahead = false\n"
	}
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	d.log = &bytes.Buffer{}
	d.cmd = exec.Command(binary(t, "BERTHD", "berthd"), "--config", cfgPath, "--root", d.root, "--state", d.state, "--log-level", "debug")
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Ready means answering: the socket is bound before recovery (GC,
	// containers) runs, and requests wait for it.
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", d.sock)
		}}}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if resp, err := hc.Get("http://berth/_ping"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("berthd did not come up:\n%s", d.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM and checks for a clean exit.
func (d *daemon) stop() {
	if d.cmd == nil || d.cmd.ProcessState != nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			d.t.Errorf("berthd exited uncleanly: %v\n%s", err, d.log)
		}
	case <-time.After(15 * time.Second):
		d.cmd.Process.Kill()
		<-done
		d.t.Errorf("berthd ignored SIGTERM:\n%s", d.log)
	}
	d.cmd = nil
}

// kill stops the daemon the hard way (crash simulation).
func (d *daemon) kill() {
	d.cmd.Process.Kill()
	d.cmd.Wait()
	d.cmd = nil
}

func (d *daemon) restart() {
	d.stop()
	d.start()
}

// run executes a CLI against the daemon and returns stdout, stderr.
func (d *daemon) run(bin string, args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+d.sock, "BERTH_HOST=unix://"+d.sock, "DOCKER_CONFIG="+d.config)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// berth runs the berth CLI and fails the test on error.
func (d *daemon) berth(args ...string) string {
	d.t.Helper()
	out, errOut, err := d.run(binary(d.t, "BERTH", "berth"), args...)
	if err != nil {
		d.t.Fatalf("berth %s: %v\nstdout: %s\nstderr: %s\ndaemon log:\n%s", strings.Join(args, " "), err, out, errOut, tail(d.log.String(), 3000))
	}
	return out
}

// berthFail runs the berth CLI, expects failure, and returns stderr.
func (d *daemon) berthFail(args ...string) string {
	d.t.Helper()
	out, errOut, err := d.run(binary(d.t, "BERTH", "berth"), args...)
	if err == nil {
		d.t.Fatalf("berth %s succeeded, want failure\nstdout: %s", strings.Join(args, " "), out)
	}
	return errOut
}

// docker runs the real docker CLI against berthd.
func (d *daemon) docker(args ...string) string {
	d.t.Helper()
	bin, err := exec.LookPath("docker")
	if err != nil {
		d.t.Skip("docker CLI not installed (scripts/install-deps.sh installs it)")
	}
	out, errOut, err := d.run(bin, args...)
	if err != nil {
		d.t.Fatalf("docker %s: %v\nstdout: %s\nstderr: %s\ndaemon log:\n%s", strings.Join(args, " "), err, out, errOut, tail(d.log.String(), 3000))
	}
	return out
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// inspect reads one field of an image with a Go template.
func (d *daemon) inspect(image, tmpl string) string {
	d.t.Helper()
	return strings.TrimSpace(d.berth("image", "inspect", "--format", tmpl, image))
}

// rootfs mounts a read-only view of an image's top snapshot (the daemon
// must be stopped: the snapshotter's database is single-user) and returns
// the mount point.
func (d *daemon) rootfs(chainID string) string {
	t := d.t
	t.Helper()
	open := func() (snapshot.Snapshotter, error) {
		if strings.Contains(d.extra, `snapshotter = "native"`) {
			return snapshot.OpenNative(filepath.Join(d.root, "snapshots", "native"))
		}
		return snapshot.OpenOverlay(filepath.Join(d.root, "snapshots", "overlay"))
	}
	sn, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Close()
	ctx := context.Background()
	key := fmt.Sprintf("test-view-%d", time.Now().UnixNano())
	ms, err := sn.View(ctx, key, chainID, nil)
	if err != nil {
		t.Fatalf("view of %s: %v", chainID, err)
	}
	target := t.TempDir()
	if err := snapshot.MountAll(ms, target); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		snapshot.UnmountAll(target)
		if sn, err := open(); err == nil {
			sn.Remove(ctx, key)
			sn.Close()
		}
	})
	return target
}

// counts reports how many blobs, snapshots and ingests the root holds.
func (d *daemon) counts() (blobs, snaps, ingests int) {
	entries, _ := os.ReadDir(filepath.Join(d.root, "content", "blobs", "sha256"))
	blobs = len(entries)
	// A removed snapshot's directory is renamed rm-<id> and deleted in
	// the background: give that a moment, and count what is left.
	dir := filepath.Join(d.root, "snapshots", "overlay", "snapshots")
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		entries, _ = os.ReadDir(dir)
		trash := false
		for _, e := range entries {
			trash = trash || strings.HasPrefix(e.Name(), "rm-")
		}
		if !trash || time.Now().After(end) {
			break
		}
	}
	snaps = len(entries)
	entries, _ = os.ReadDir(filepath.Join(d.root, "content", "ingest"))
	ingests = len(entries)
	return
}

// isSpareRootfs says whether mountpoint is the rootfs made ahead for the
// next container (its bundle directory holds container.SpareMarker).
func isSpareRootfs(mountpoint string) bool {
	_, err := os.Stat(filepath.Join(filepath.Dir(mountpoint), "rootfs-spare"))
	return filepath.Base(mountpoint) == "rootfs" && err == nil
}

// mountsUnder lists the mounts under dir but the daemon's own namespace
// and rootfs made ahead for its next container.
func mountsUnder(dir string) []string {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && strings.HasPrefix(f[4], dir) && !strings.Contains(f[4], "/netns-none/pool-") && !isSpareRootfs(f[4]) {
			out = append(out, f[4])
		}
	}
	return out
}
