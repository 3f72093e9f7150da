// Package integration drives the real berth binaries against the real
// kernel: namespaces, cgroups, mounts and seccomp are not mocked. Tests
// need root; they skip with a reason otherwise.
package integration

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/testutil"
)

var (
	ociBin  string
	counter atomic.Int64
)

func TestMain(m *testing.M) {
	ociBin = os.Getenv("BERTH_OCI")
	if ociBin == "" && os.Geteuid() == 0 {
		dir, err := os.MkdirTemp("", "berth-bin")
		if err != nil {
			panic(err)
		}
		ociBin = filepath.Join(dir, "berth-oci")
		builds := [][]string{
			{"go", "build", "-tags", "osusergo netgo", "-o", ociBin, "../../cmd/berth-oci"},
			{"go", "build", "-tags", "berthinit osusergo netgo", "-o", filepath.Join(dir, "berth-oci-init"), "../../cmd/berth-oci-init"},
		}
		for _, b := range builds {
			cmd := exec.Command(b[0], b[1:]...)
			cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
			if strings.Contains(b[3], "berthinit") {
				cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			}
			if err := cmd.Run(); err != nil {
				panic(err)
			}
		}
		code := m.Run()
		os.RemoveAll(dir)
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// rt is one runtime root for one test.
type rt struct {
	t    *testing.T
	root string
}

func newRT(t *testing.T) *rt {
	t.Helper()
	testutil.RequireRoot(t)
	r := &rt{t: t, root: t.TempDir()}
	t.Cleanup(func() {
		out, _ := exec.Command(ociBin, "--root", r.root, "list", "-q").Output()
		for _, id := range strings.Fields(string(out)) {
			exec.Command(ociBin, "--root", r.root, "delete", "-f", id).Run()
		}
	})
	return r
}

type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
}

// run executes berth-oci with the test's --root.
func (r *rt) run(args ...string) result {
	r.t.Helper()
	return r.runIn(nil, args...)
}

func (r *rt) runIn(stdin []byte, args ...string) result {
	r.t.Helper()
	cmd := exec.Command(ociBin, append([]string{"--root", r.root}, args...)...)
	// Files, not pipes: a detached container keeps its stdio open, and
	// os/exec would wait for a pipe's EOF.
	outF, errF := tempFile(r.t), tempFile(r.t)
	cmd.Stdout, cmd.Stderr = outF, errF
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	res := result{stdout: readBack(r.t, outF), stderr: readBack(r.t, errF)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	default:
		r.t.Fatalf("berth-oci %v: %v", args, err)
	}
	return res
}

func tempFile(t *testing.T) *os.File {
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func readBack(t *testing.T, f *os.File) string {
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// must runs and fails the test on a non-zero exit.
func (r *rt) must(args ...string) string {
	r.t.Helper()
	res := r.run(args...)
	if res.code != 0 {
		r.t.Fatalf("berth-oci %v: %s", args, res)
	}
	return res.stdout
}

func (r *rt) state(id string) specs.State {
	r.t.Helper()
	var st specs.State
	if err := json.Unmarshal([]byte(r.must("state", id)), &st); err != nil {
		r.t.Fatal(err)
	}
	return st
}

// waitStatus polls until the container reaches status.
func (r *rt) waitStatus(id, status string) {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if string(r.state(id).Status) == status {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.t.Fatalf("container %s never became %s (is %s)", id, status, r.state(id).Status)
}

// bundle makes a busybox bundle with the default spec, args as the process
// and edit applied last. The cgroup path is unique to the test.
func bundle(t *testing.T, edit func(*specs.Spec), args ...string) string {
	t.Helper()
	dir := t.TempDir()
	testutil.BusyboxRootfs(t, filepath.Join(dir, "rootfs"))
	cmd := exec.Command(ociBin, "spec", "--bundle", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("spec: %v %s", err, out)
	}
	spec := readSpec(t, dir)
	spec.Process.Terminal = false
	spec.Process.Args = args
	spec.Linux.CgroupsPath = fmt.Sprintf("/berth-test/%s-%d-%d", sanitize(t.Name()), os.Getpid(), counter.Add(1))
	if edit != nil {
		edit(spec)
	}
	writeSpec(t, dir, spec)
	return dir
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == ' ' {
			return '_'
		}
		return r
	}, s)
}

func readSpec(t *testing.T, dir string) *specs.Spec {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

func writeSpec(t *testing.T, dir string, s *specs.Spec) {
	t.Helper()
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// runSh runs a foreground container executing sh -c script and returns its result.
func (r *rt) runSh(edit func(*specs.Spec), script string) result {
	r.t.Helper()
	b := bundle(r.t, edit, "sh", "-c", script)
	return r.run("run", "--bundle", b, fmt.Sprintf("c%d", counter.Add(1)))
}

func (r *rt) mustSh(edit func(*specs.Spec), script string) string {
	r.t.Helper()
	res := r.runSh(edit, script)
	if res.code != 0 {
		r.t.Fatalf("container script %q: %s", script, res)
	}
	return res.stdout
}

func removeNS(s *specs.Spec, t specs.LinuxNamespaceType) {
	var out []specs.LinuxNamespace
	for _, ns := range s.Linux.Namespaces {
		if ns.Type != t {
			out = append(out, ns)
		}
	}
	s.Linux.Namespaces = out
}

func readlink(t *testing.T, p string) string {
	t.Helper()
	l, err := os.Readlink(p)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
