package daemon_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestKillDaemonLoop kills berthd with SIGKILL at random moments while
// containers are created, started, stopped and removed, restarts it, and
// checks that nothing is lost (running containers run and log, exit codes
// are real) and, once all is removed, that nothing leaks (shims, mounts,
// cgroups, snapshots).
func TestKillDaemonLoop(t *testing.T) {
	d := startDaemon(t, "[containers]\nrootfs_ahead = true\n")
	img := busybox(t)
	d.berth("pull", img)
	bin := binary(t, "BERTH", "berth")
	veths0, _, _, _ := d.netCounts()
	const rounds = 6
	for i := range rounds {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("k%d", i)
			args := []string{"run", "-d", "--name", name}
			if i%2 == 1 {
				args = append(args, "-p", "80") // a portmap endpoint too
			}
			d.run(bin, append(args, img, "sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.05; done")...)
			if i > 0 {
				d.run(bin, "stop", "-t", "0", fmt.Sprintf("k%d", i-1))
			}
			if i > 1 {
				d.run(bin, "rm", "-f", fmt.Sprintf("k%d", i-2))
			}
		}()
		time.Sleep(time.Duration(20+rand.IntN(300)) * time.Millisecond)
		d.kill()
		wg.Wait()
		d.start()
	}
	// Invariants after the last restart.
	out := d.berth("ps", "-a", "--format", "{{.Names}}")
	for _, name := range strings.Fields(out) {
		st := d.inspectC(name, "{{.State.Status}} {{.State.ExitCode}} {{.State.Pid}} {{.State.Error}}")
		f := strings.Fields(st)
		switch f[0] {
		case "running":
			pid, _ := strconv.Atoi(f[2])
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err != nil || strings.Contains(string(b), ") Z ") {
				t.Errorf("%s: running with pid %d, which is dead", name, pid)
			}
			before := d.berth("logs", "--tail", "1", name)
			time.Sleep(300 * time.Millisecond)
			if after := d.berth("logs", "--tail", "1", name); after == before {
				t.Errorf("%s: logs stopped (%q)", name, after)
			}
			// exec and stop still work
			if out := d.berth("exec", name, "echo", "alive"); out != "alive\n" {
				t.Errorf("%s: exec after restarts: %q", name, out)
			}
		case "exited":
			if f[1] != "137" && f[1] != "143" && f[1] != "0" {
				t.Errorf("%s: exit code lost: %q", name, st)
			}
		case "created":
		default:
			t.Errorf("%s: state %q", name, st)
		}
	}
	d.berth("ps", "-aq")
	ids := strings.Fields(d.berth("ps", "-aq", "--no-trunc"))
	if len(ids) > 0 {
		d.berth(append([]string{"rm", "-f"}, ids...)...)
	}
	if out := d.berth("ps", "-aq"); strings.TrimSpace(out) != "" {
		t.Errorf("containers left: %q", out)
	}
	// No shim of this daemon (but its one spare, for the next start), no
	// mount, no cgroup, no container snapshot.
	time.Sleep(3 * time.Second) // shims linger briefly after their container
	spares := 0
	for _, p := range pidsOf("berth-shim") {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		switch {
		case !strings.Contains(string(b), d.state):
		case strings.Contains(string(b), "/shims/spare-") && spares == 0:
			spares++
		default:
			t.Errorf("shim %d left: %s", p, strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	// (The namespace made ahead for the next container on no network is
	// the daemon's.)
	for _, m := range mountsUnder(d.state) {
		t.Errorf("mount left under %s: %s", d.state, m)
	}
	if veths, netns, _, leases := d.netSettled(func(v, n, _, l int) bool { return v == veths0 && n == 0 && l == 0 }); veths != veths0 || netns != 0 || leases != 0 {
		t.Errorf("network left: %d veths (%d before), %d namespaces, %d leases", veths, veths0, netns, leases)
	}
	// No published-port rule of this daemon's network either: one left
	// behind (a start killed between the CNI ADD and its commit) sends
	// every later connection to its host port nowhere.
	if netID := strings.TrimSpace(d.berth("network", "inspect", "-f", "{{.Id}}", "bridge")); len(netID) >= 12 {
		if out, err := exec.Command("iptables", "-w", "-t", "nat", "-S").Output(); err == nil {
			for _, l := range strings.Split(string(out), "\n") {
				if strings.Contains(l, `name: \"berth-`+netID[:12]+`\"`) {
					t.Errorf("port rule left: %s", l)
				}
			}
		}
	}
	for _, id := range ids {
		for _, cg := range []string{"/sys/fs/cgroup/memory/berth", "/sys/fs/cgroup/pids/berth", "/sys/fs/cgroup/berth"} {
			if _, err := os.Stat(filepath.Join(cg, id)); err == nil {
				t.Errorf("cgroup %s/%s left", cg, id)
			}
		}
	}
	d.restart()
	if _, snaps, _ := d.counts(); snaps != 1 {
		t.Errorf("%d snapshots left, want the image's 1", snaps)
	}
}
