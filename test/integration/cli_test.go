package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLIOutputs: the machine-readable outputs callers parse.
func TestCLIOutputs(t *testing.T) {
	r := newRT(t)
	var f struct {
		OCIVersionMax string `json:"ociVersionMax"`
		Linux         struct {
			Namespaces []string `json:"namespaces"`
			Seccomp    struct {
				Enabled bool `json:"enabled"`
			} `json:"seccomp"`
		} `json:"linux"`
	}
	if err := json.Unmarshal([]byte(r.must("features")), &f); err != nil {
		t.Fatal(err)
	}
	if f.OCIVersionMax != "1.3.0" || len(f.Linux.Namespaces) != 8 || !f.Linux.Seccomp.Enabled {
		t.Fatalf("features: %+v", f)
	}

	b := bundle(t, nil, "sleep", "1000")
	r.must("run", "-d", "--bundle", b, "cli")
	var list []struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Pid    int    `json:"pid"`
	}
	if err := json.Unmarshal([]byte(r.must("list", "--format", "json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != "cli" || list[0].Status != "running" || list[0].Pid <= 0 {
		t.Fatalf("list: %+v", list)
	}
	var pids []int
	if err := json.Unmarshal([]byte(r.must("ps", "--format", "json", "cli")), &pids); err != nil {
		t.Fatal(err)
	}
	if len(pids) != 1 || pids[0] != list[0].Pid {
		t.Fatalf("ps: %v, want [%d]", pids, list[0].Pid)
	}
	if res := r.run("spec", "--bundle", b); res.code == 0 || !strings.Contains(res.stderr, "already exists") {
		t.Fatalf("spec over an existing config.json: %s", res)
	}
}

// TestJSONLogForShims: with --log and --log-format json an error is one JSON
// line with level "error", which containerd's runc shim reads back.
func TestJSONLogForShims(t *testing.T) {
	r := newRT(t)
	logf := filepath.Join(t.TempDir(), "log.json")
	res := r.run("--log", logf, "--log-format", "json", "state", "nosuch")
	if res.code == 0 {
		t.Fatal("state of a missing container succeeded")
	}
	b, err := os.ReadFile(logf)
	if err != nil {
		t.Fatal(err)
	}
	var line struct{ Level, Msg string }
	if err := json.Unmarshal([]byte(strings.TrimSpace(string(b))), &line); err != nil {
		t.Fatalf("log %q: %v", b, err)
	}
	if line.Level != "error" || !strings.Contains(line.Msg, "nosuch") {
		t.Fatalf("log line %+v", line)
	}
}

// TestNoPivot: --no-pivot (MS_MOVE and chroot) gives the same view.
func TestNoPivot(t *testing.T) {
	r := newRT(t)
	b := bundle(t, nil, "sh", "-c", "cat /proc/self/mountinfo | wc -l; ls /")
	cmd := exec.Command(ociBin, "--root", r.root, "run", "--no-pivot", "--bundle", b, "nopivot")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run --no-pivot: %v %s", err, out)
	}
	if !strings.Contains(string(out), "proc") || !strings.Contains(string(out), "bin") {
		t.Fatalf("no-pivot container sees: %s", out)
	}
}
