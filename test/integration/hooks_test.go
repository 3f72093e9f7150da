package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// logHook appends "<kind> <status from the state on stdin> <mount ns>" to log.
// sh is the host's /bin/sh, or the container's for startContainer.
func logHook(kind, log string) specs.Hook {
	const script = `st=$(sed -n 's/.*"status": *"\([a-z]*\)".*/\1/p'); echo "$0 $st $(readlink /proc/self/ns/mnt)" >> "$1"`
	return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", script, kind, log}}
}

type hookLine struct{ kind, status, mntNS string }

func readHookLog(t *testing.T, path string) []hookLine {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []hookLine
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if f := strings.Fields(line); len(f) == 3 {
			out = append(out, hookLine{f[0], f[1], f[2]})
		} else if line != "" {
			t.Errorf("hook log line %q", line)
		}
	}
	return out
}

func TestHooksOrderAndState(t *testing.T) {
	r := newRT(t)
	logDir := t.TempDir()
	log := filepath.Join(logDir, "log")
	b := bundle(t, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/hooklog", Type: "bind", Source: logDir, Options: []string{"rbind", "rw"}})
		s.Hooks = &specs.Hooks{
			Prestart:        []specs.Hook{logHook("prestart", log)}, //nolint:staticcheck // deprecated, still part of the spec
			CreateRuntime:   []specs.Hook{logHook("createRuntime", log)},
			CreateContainer: []specs.Hook{logHook("createContainer", log)},
			StartContainer:  []specs.Hook{logHook("startContainer", "/hooklog/log")},
			Poststart:       []specs.Hook{logHook("poststart", log)},
			Poststop:        []specs.Hook{logHook("poststop", log)},
		}
	}, "sleep", "1000")
	hostMnt := readlink(t, "/proc/self/ns/mnt")
	r.must("create", "--bundle", b, "hk")
	ctrMnt := readlink(t, "/proc/"+strconv.Itoa(r.state("hk").Pid)+"/ns/mnt")
	want := []hookLine{
		// The create operation has made the environment when these run:
		// status "created", as runtime-tools' hooks_stdin expects for prestart
		// (runc 1.1.5 passes "creating").
		{"prestart", "created", hostMnt},
		{"createRuntime", "created", hostMnt},
		{"createContainer", "created", ctrMnt},
	}
	where := map[string]string{hostMnt: "host", ctrMnt: "container"}
	check := func(stage string) {
		t.Helper()
		var got []hookLine
		// Give a straggler time to show up, so that a wrong order is told
		// apart from a missing hook.
		for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if got = readHookLog(t, log); len(got) >= len(want) || time.Now().After(deadline) {
				break
			}
		}
		if len(got) != len(want) {
			t.Fatalf("after %s: hooks %+v, want %+v", stage, got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("after %s: hook %d = %s %s in %s mnt ns %s, want %s %s in %s mnt ns",
					stage, i, got[i].kind, got[i].status, where[got[i].mntNS], got[i].mntNS,
					want[i].kind, want[i].status, where[want[i].mntNS])
			}
		}
	}
	check("create")
	r.must("start", "hk")
	// start has returned: the user process runs, poststart hooks ran.
	cmd, _ := os.ReadFile("/proc/" + strconv.Itoa(r.state("hk").Pid) + "/cmdline")
	want = append(want, hookLine{"startContainer", "created", ctrMnt}, hookLine{"poststart", "running", hostMnt})
	check("start")
	if !strings.HasPrefix(string(cmd), "sleep") {
		t.Errorf("start returned before the user process was executed: init runs %q", cmd)
	}
	r.must("kill", "hk", "KILL")
	r.waitStatus("hk", "stopped")
	check("stop")
	r.must("delete", "hk")
	want = append(want, hookLine{"poststop", "stopped", hostMnt})
	check("delete")
}

// start returns only once the user process runs, so startContainer hooks
// (which run before it) finish before poststart hooks start, however slow.
func TestHookStartContainerBeforePoststart(t *testing.T) {
	r := newRT(t)
	logDir := t.TempDir()
	log := filepath.Join(logDir, "log")
	slowStart := logHook("startContainer", "/hooklog/log")
	slowStart.Args[2] = "sleep 0.3; " + slowStart.Args[2]
	b := bundle(t, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/hooklog", Type: "bind", Source: logDir, Options: []string{"rbind", "rw"}})
		s.Hooks = &specs.Hooks{
			StartContainer: []specs.Hook{slowStart},
			Poststart:      []specs.Hook{logHook("poststart", log)},
		}
	}, "sleep", "1000")
	r.must("create", "--bundle", b, "slow")
	r.must("start", "slow")
	cmd, _ := os.ReadFile("/proc/" + strconv.Itoa(r.state("slow").Pid) + "/cmdline")
	var got []hookLine
	for deadline := time.Now().Add(3 * time.Second); len(got) < 2 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		got = readHookLog(t, log)
	}
	if len(got) != 2 || got[0].kind != "startContainer" || got[1].kind != "poststart" {
		t.Errorf("hooks %+v, want startContainer then poststart", got)
	}
	if !strings.HasPrefix(string(cmd), "sleep") {
		t.Errorf("start returned before the user process was executed: init runs %q", cmd)
	}
}

// A failing startContainer hook fails start (runtime spec: "the runtime
// MUST generate an error, stop the container, and continue the lifecycle at
// step 12"); the user process never runs.
func TestHookStartContainerFails(t *testing.T) {
	r := newRT(t)
	b := bundle(t, func(s *specs.Spec) {
		s.Hooks = &specs.Hooks{StartContainer: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "exit 1"}}}}
	}, "sleep", "1000")
	r.must("create", "--bundle", b, "sf")
	res := r.run("start", "sf")
	if res.code == 0 {
		t.Fatalf("start succeeded although the startContainer hook failed: %s", res)
	}
	if !strings.Contains(res.stderr, "startContainer") {
		t.Errorf("start error does not name the hook: %s", res)
	}
	r.waitStatus("sf", "stopped")
}

func TestHookFailures(t *testing.T) {
	tests := []struct {
		name    string
		hooks   func(log string) *specs.Hooks
		want    []string // in stderr
		maxTime time.Duration
	}{
		{
			name: "createRuntime exits 1",
			hooks: func(log string) *specs.Hooks {
				return &specs.Hooks{
					CreateRuntime:   []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "exit 1"}}},
					CreateContainer: []specs.Hook{logHook("createContainer", log)},
				}
			},
			want: []string{"createRuntime"},
		},
		{
			name: "prestart times out",
			hooks: func(log string) *specs.Hooks {
				return &specs.Hooks{
					Prestart:      []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "exec sleep 10"}, Timeout: ptr(1)}}, //nolint:staticcheck
					CreateRuntime: []specs.Hook{logHook("createRuntime", log)},
				}
			},
			want:    []string{"prestart"},
			maxTime: 6 * time.Second,
		},
		{
			// sh forks sleep, which holds the hook's output open.
			name: "createContainer times out",
			hooks: func(log string) *specs.Hooks {
				return &specs.Hooks{
					CreateContainer: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "sleep 10"}, Timeout: ptr(1)}},
				}
			},
			want:    []string{"createContainer"},
			maxTime: 6 * time.Second,
		},
		{
			name: "hook binary missing",
			hooks: func(log string) *specs.Hooks {
				return &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/no/such/hook"}}}
			},
			want: []string{"/no/such/hook"},
		},
	}
	for _, tc := range tests {
		t.Run(sanitize(tc.name), func(t *testing.T) {
			r := newRT(t)
			log := filepath.Join(t.TempDir(), "log")
			b := bundle(t, func(s *specs.Spec) {
				s.Hooks = tc.hooks(log)
				s.Hooks.Poststop = []specs.Hook{logHook("poststop", log)}
			}, "sleep", "1000")
			cgPath := readSpec(t, b).Linux.CgroupsPath
			before := snapshotHost(t)
			start := time.Now()
			res := r.run("create", "--bundle", b, "hf")
			took := time.Since(start)
			if res.code == 0 {
				t.Fatalf("create succeeded: %s", res)
			}
			if !containsAny(res.stderr, tc.want) {
				t.Errorf("error names none of %q: %s", tc.want, res)
			}
			if tc.maxTime > 0 && took > tc.maxTime {
				t.Errorf("create took %v with a 1 s hook timeout", took)
			}
			r.assertNoLeftovers(before, cgPath)
			// The runtime spec: a failing prestart/createRuntime/createContainer
			// hook stops the container and continues the lifecycle at step 12
			// (destroy), so poststop hooks run (as runc 1.1.5 does); nothing else.
			got := readHookLog(t, log)
			var others []hookLine
			poststops := 0
			for _, l := range got {
				if l.kind == "poststop" {
					poststops++
				} else {
					others = append(others, l)
				}
			}
			if len(others) != 0 {
				t.Errorf("hooks after the failing one ran: %+v", others)
			}
			if poststops > 1 {
				t.Errorf("poststop ran %d times", poststops)
			}
			if poststops == 0 {
				t.Error("a failing create-time hook did not lead to the poststop hooks (runtime spec: lifecycle step 12)")
			}
		})
	}
}
