// Package shim_test drives the real berth-shim binary, with the real
// berth-oci, against the real kernel. The tests need root.
package shim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/shim"
	"github.com/berth-dev/berth/internal/testutil"
)

var (
	shimBin, ociBin string
	// runtimeBin is what the shim drives: berth-oci unless
	// BERTH_SHIM_RUNTIME names another runc-compatible runtime.
	runtimeBin string
	counter    atomic.Int64
)

// helperEnv makes the test binary a helper that launches a shim from the
// LaunchOptions JSON in it, reports, and sleeps until killed.
const helperEnv = "BERTH_SHIM_TEST_LAUNCH"

func TestMain(m *testing.M) {
	if opts := os.Getenv(helperEnv); opts != "" {
		var o shim.LaunchOptions
		if err := json.Unmarshal([]byte(opts), &o); err != nil {
			fmt.Println("bad options:", err)
			os.Exit(2)
		}
		if err := shim.Launch(o); err != nil {
			fmt.Println("launch:", err)
			os.Exit(1)
		}
		fmt.Println("launched")
		select {}
	}
	shimBin = binary("BERTH_SHIM", "berth-shim")
	ociBin = binary("BERTH_OCI", "berth-oci")
	runtimeBin = ociBin
	if p := os.Getenv("BERTH_SHIM_RUNTIME"); p != "" {
		runtimeBin = p
	}
	os.Exit(m.Run())
}

func binary(env, name string) string {
	if p := os.Getenv(env); p != "" {
		return p
	}
	p, _ := filepath.Abs(filepath.Join("../../../bin", name))
	return p
}

// fixture is one container under one shim.
type fixture struct {
	t        *testing.T
	id       string
	bundle   string
	rtRoot   string
	stateDir string
	logPath  string
	opts     shim.LaunchOptions
}

// newFixture makes a busybox bundle running args; edit changes the spec.
func newFixture(t *testing.T, edit func(*specs.Spec), args ...string) *fixture {
	t.Helper()
	testutil.RequireRoot(t)
	for _, b := range []string{shimBin, ociBin} {
		if _, err := os.Stat(b); err != nil {
			t.Skipf("%s not built (make build, or set BERTH_SHIM/BERTH_OCI): %v", b, err)
		}
	}
	dir := t.TempDir()
	f := &fixture{
		t:        t,
		id:       fmt.Sprintf("shimtest-%d-%d", os.Getpid(), counter.Add(1)),
		bundle:   filepath.Join(dir, "bundle"),
		rtRoot:   filepath.Join(dir, "rt"),
		stateDir: filepath.Join(dir, "state"),
		logPath:  filepath.Join(dir, "ctr.log"),
	}
	testutil.BusyboxRootfs(t, filepath.Join(f.bundle, "rootfs"))
	if out, err := exec.Command(ociBin, "spec", "--bundle", f.bundle).CombinedOutput(); err != nil {
		t.Fatalf("spec: %v %s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(f.bundle, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	spec.Process.Terminal = false
	spec.Process.Args = args
	spec.Linux.CgroupsPath = "/berth-test/" + f.id
	if runtimeBin != ociBin {
		// Older peers refuse newer spec versions (crun 1.8: "unknown version").
		spec.Version = "1.0.2"
	}
	if edit != nil {
		edit(&spec)
	}
	if b, err = json.Marshal(&spec); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.bundle, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	f.opts = shim.LaunchOptions{
		Binary: shimBin, ID: f.id, Bundle: f.bundle, Runtime: runtimeBin, RuntimeRoot: f.rtRoot,
		StateDir: f.stateDir, LogPath: f.logPath, LogMaxFiles: 1,
		ShimLog: filepath.Join(dir, "shim.log"),
	}
	t.Cleanup(func() {
		// Whatever happened, leave no container and no shim behind.
		if c, err := shim.Dial(f.stateDir); err == nil {
			c.Kill(syscall.SIGKILL, true)
		}
		exec.Command(runtimeBin, "--root", f.rtRoot, "delete", "-f", f.id).Run()
		f.waitShimGone(10 * time.Second)
		b, _ := os.ReadFile(f.opts.ShimLog)
		if bytes.Contains(b, []byte("DATA RACE")) || bytes.Contains(b, []byte("panic:")) {
			t.Error("the shim raced or panicked")
		}
		if t.Failed() {
			t.Logf("shim log:\n%s", b)
		}
	})
	return f
}

func (f *fixture) launch() *shim.Client {
	f.t.Helper()
	if err := shim.Launch(f.opts); err != nil {
		f.t.Fatalf("launch: %v", err)
	}
	c, err := shim.Dial(f.stateDir)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// shimPids lists the berth-shim processes serving this fixture.
func (f *fixture) shimPids() []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if filepath.Base(args[0]) == filepath.Base(shimBin) && strings.Contains(string(b), "\x00"+f.stateDir+"\x00") {
			pids = append(pids, pid)
		}
	}
	return pids
}

func (f *fixture) waitShimGone(d time.Duration) {
	f.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if len(f.shimPids()) == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	f.t.Errorf("shim %v still running after %s", f.shimPids(), d)
}

// runtimeIDs lists the containers the runtime knows in the fixture's root.
func (f *fixture) runtimeIDs() []string {
	out, _ := exec.Command(runtimeBin, "--root", f.rtRoot, "list", "-q").Output()
	return strings.Fields(string(out))
}

func wait(t *testing.T, c *shim.Client) shim.ExitStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	e, err := c.Wait(ctx)
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	return e
}

// streamReader collects a connection's bytes in the background.
type streamReader struct {
	buf  chan []byte
	all  bytes.Buffer
	done chan struct{}
}

func readStream(r io.Reader) *streamReader {
	s := &streamReader{buf: make(chan []byte, 1024), done: make(chan struct{})}
	go func() {
		defer close(s.buf)
		b := make([]byte, 4096)
		for {
			n, err := r.Read(b)
			if n > 0 {
				s.buf <- bytes.Clone(b[:n])
			}
			if err != nil {
				return
			}
		}
	}()
	return s
}

// until reads until the collected text contains want; it returns the text.
func (s *streamReader) until(t *testing.T, want string) string {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for !strings.Contains(s.all.String(), want) {
		select {
		case b, ok := <-s.buf:
			if !ok {
				t.Fatalf("stream ended before %q; got %q", want, s.all.String())
			}
			s.all.Write(b)
		case <-timeout:
			t.Fatalf("timed out waiting for %q; got %q", want, s.all.String())
		}
	}
	return s.all.String()
}

// end reads the rest and fails unless the stream ends in time.
func (s *streamReader) end(t *testing.T) string {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case b, ok := <-s.buf:
			if !ok {
				return s.all.String()
			}
			s.all.Write(b)
		case <-timeout:
			t.Fatalf("stream did not end; got %q", s.all.String())
		}
	}
}

// demux splits a framed stream into stdout and stderr.
func demux(t *testing.T, framed []byte) (string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	if err := shim.Demux(bytes.NewReader(framed), &out, &errb); err != nil {
		t.Fatalf("demux %q: %v", framed, err)
	}
	return out.String(), errb.String()
}

func closeWrite(t *testing.T, c net.Conn) {
	t.Helper()
	if err := c.(*net.UnixConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
}
