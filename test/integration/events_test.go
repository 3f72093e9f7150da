package integration

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// TestEventsOOM: `events` reports an out-of-memory kill as an "oom" event
// (runc's format) while streaming stats.
func TestEventsOOM(t *testing.T) {
	r := newRT(t)
	limit := int64(16 << 20)
	b := bundle(t, func(s *specs.Spec) {
		s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &limit, Swap: &limit}
	}, "sh", "-c", "sleep 0.5; x=a; while true; do x=$x$x; done")
	r.must("run", "-d", "--bundle", b, "oom")
	cmd := exec.Command(ociBin, "--root", r.root, "events", "--interval", "1s", "oom")
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("events did not end after the container died: %s", out.String())
	}
	var types []string
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var e struct{ Type, ID string }
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("bad event line %q: %v", line, err)
		}
		if e.ID != "oom" {
			t.Fatalf("event for %q", e.ID)
		}
		types = append(types, e.Type)
	}
	if !strings.Contains(strings.Join(types, ","), "oom") || types[0] != "stats" {
		t.Fatalf("events %v: want stats then an oom", types)
	}
}
