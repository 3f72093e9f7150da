package shim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/logging"
)

// The test binary doubles as berth-shim, so that the server runs under
// the race detector when the tests do.
const asShimEnv = "BERTH_SHIM_TEST_AS_SHIM"

func TestMain(m *testing.M) {
	if os.Getenv(asShimEnv) == "1" {
		os.Exit(Main(os.Args[1:], "test"))
	}
	os.Exit(m.Run())
}

// fake is a shim driving testdata/fake-runtime.sh.
type fake struct {
	t    *testing.T
	opts LaunchOptions
}

func newFake(t *testing.T, script string) *fake {
	t.Helper()
	t.Setenv(asShimEnv, "1")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	rt, err := filepath.Abs("testdata/fake-runtime.sh")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bundle := filepath.Join(dir, "bundle")
	os.Mkdir(bundle, 0o755)
	if script != "" {
		if err := os.WriteFile(filepath.Join(bundle, "script"), []byte(script), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f := &fake{t: t, opts: LaunchOptions{
		Binary: self, ID: "c1", Bundle: bundle, Runtime: rt, RuntimeRoot: filepath.Join(dir, "rt"),
		StateDir: filepath.Join(dir, "state"), LogPath: filepath.Join(dir, "c.log"), LogMaxFiles: 1,
		ShimLog: filepath.Join(dir, "shim.log"),
	}}
	t.Cleanup(func() {
		if c, err := Dial(f.opts.StateDir); err == nil {
			c.Kill(syscall.SIGKILL, false)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			c.Wait(ctx)
			cancel()
			c.Shutdown()
		}
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

func (f *fake) launch() *Client {
	f.t.Helper()
	if err := Launch(f.opts); err != nil {
		f.t.Fatal(err)
	}
	c, err := Dial(f.opts.StateDir)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

func waitExit(t *testing.T, c *Client) ExitStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	e, err := c.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func logText(t *testing.T, path string) map[string]string {
	t.Helper()
	bufs := map[string]*strings.Builder{}
	err := logging.Read(context.Background(), path, logging.ReadOptions{Tail: -1}, func(r logging.Record) error {
		if bufs[r.Stream] == nil {
			bufs[r.Stream] = &strings.Builder{}
		}
		bufs[r.Stream].Write(r.Line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for k, b := range bufs {
		got[k] = b.String()
	}
	return got
}

func TestLifecycle(t *testing.T) {
	f := newFake(t, "echo out; echo err >&2; printf partial; exit 3\n")
	c := f.launch()
	st, err := c.State()
	if err != nil || st.Status != StatusCreated || st.Pid == 0 {
		t.Fatalf("state %+v %v", st, err)
	}
	if err := c.Resize(80, 24); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("resize without a terminal: %v", err)
	}
	if err := c.Kill(0, false); !errdefs.IsInvalidArgument(err) {
		t.Errorf("kill 0: %v", err)
	}
	if err := c.call(request{Op: "bogus"}, nil); !errdefs.IsInvalidArgument(err) {
		t.Errorf("unknown op: %v", err)
	}
	// A client that gives up waiting does not disturb the others.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	if _, err := c.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("wait with a deadline: %v", err)
	}
	cancel()
	st, err = c.Start()
	if err != nil {
		t.Fatal(err)
	}
	// Start answers with the state it left, pid included.
	if st.Pid <= 0 || st.StartedAt.IsZero() {
		t.Errorf("start's state: %+v", st)
	}
	if _, err := c.Start(); !errdefs.IsConflict(err) {
		t.Errorf("second start: %v", err)
	}
	if e := waitExit(t, c); e.ExitCode != 3 {
		t.Errorf("exit %+v", e)
	}
	got := logText(t, f.opts.LogPath)
	if got["stdout"] != "out\npartial" || got["stderr"] != "err\n" {
		t.Errorf("log %q", got)
	}
	if e, err := ReadExitFile(f.opts.StateDir); err != nil || e.ExitCode != 3 {
		t.Errorf("exit.json %+v %v", e, err)
	}
	// Shutdown returns once the runtime has deleted the container.
	if err := c.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(f.opts.RuntimeRoot, "c1")); !os.IsNotExist(err) {
		t.Errorf("runtime state left: %v", err)
	}
}

func TestKillAndSignalExit(t *testing.T) {
	f := newFake(t, "exec sleep 100\n")
	c := f.launch()
	if _, err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if err := c.Kill(syscall.SIGTERM, false); err != nil {
		t.Fatal(err)
	}
	if e := waitExit(t, c); e.ExitCode != 143 || e.Signal != 15 {
		t.Errorf("exit %+v", e)
	}
}

func TestCreateFailure(t *testing.T) {
	f := newFake(t, "")
	err := Launch(f.opts)
	if err == nil || !strings.Contains(err.Error(), "has no script") {
		t.Fatalf("launch: %v", err)
	}
	if msg := ReadCreateError(f.opts.StateDir); !strings.Contains(msg, "has no script") || strings.Contains(msg, "\n") {
		t.Errorf("create-error %q", msg)
	}
	if _, err := Dial(f.opts.StateDir); !errdefs.IsUnavailable(err) {
		t.Errorf("dial: %v", err)
	}
}

// A client that never reads must not hold up the container or its log.
func TestSlowAttachClient(t *testing.T) {
	const lines = 40000 // about 3.5 MB, over the client's queue
	// Bursts of 1000 lines (~90 KB), 10 ms apart: "fast" is a client that
	// keeps up with that, even on a loaded machine; the slow one never reads.
	f := newFake(t, fmt.Sprintf("i=0; while [ $i -lt %d ]; do echo \"line $i of the output, padded to some length .............................\"; i=$((i+1)); [ $((i %% 1000)) -eq 0 ] && sleep 0.01; done; true\n", lines))
	f.opts.Stdin = true
	c := f.launch()
	slow, err := c.Attach(false, true, true)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fast, err := c.Attach(true, true, false)
	if err != nil {
		t.Fatal(err)
	}
	var fastOut bytes.Buffer
	fastDone := make(chan error, 1)
	go func() { fastDone <- Demux(fast, &fastOut, nil) }()
	if _, err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if e := waitExit(t, c); e.ExitCode != 0 {
		t.Errorf("exit %+v", e)
	}
	if n := strings.Count(logText(t, f.opts.LogPath)["stdout"], "\n"); n != lines {
		t.Errorf("log has %d lines, want %d", n, lines)
	}
	select {
	case err := <-fastDone:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the fast client's stream did not end")
	}
	if n := strings.Count(fastOut.String(), "\n"); n != lines {
		t.Errorf("fast client got %d lines", n)
	}
	// The slow one gets a bounded part, then the end (maybe mid-frame,
	// if it reads too late for the shim's flush).
	slow.SetReadDeadline(time.Now().Add(20 * time.Second))
	var slowOut bytes.Buffer
	if err := Demux(slow, &slowOut, nil); err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		t.Fatal(err)
	}
	if slowOut.Len() > maxQueued+1<<20 || slowOut.Len() == 0 {
		t.Errorf("slow client got %d bytes", slowOut.Len())
	}
}

func TestAttachAfterOutputEnded(t *testing.T) {
	f := newFake(t, "exec >&- 2>&-; sleep 0.3\n")
	c := f.launch()
	if _, err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waitExit(t, c)
	conn, err := c.Attach(true, true, true)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := conn.Read(make([]byte, 10)); err != io.EOF {
		t.Errorf("read %d %v, want EOF", n, err)
	}
}

func TestDemux(t *testing.T) {
	var in bytes.Buffer
	for _, fr := range []struct {
		s byte
		p string
	}{{1, "out1"}, {2, "err"}, {1, ""}, {1, "out2"}} {
		in.Write([]byte{fr.s, 0, 0, 0, 0, 0, 0, byte(len(fr.p))})
		in.WriteString(fr.p)
	}
	var out, errb bytes.Buffer
	if err := Demux(&in, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if out.String() != "out1out2" || errb.String() != "err" {
		t.Errorf("%q %q", out.String(), errb.String())
	}
	if err := Demux(bytes.NewReader([]byte{9, 0, 0, 0, 0, 0, 0, 0}), nil, nil); err == nil {
		t.Error("bad stream id accepted")
	}
	if err := Demux(bytes.NewReader([]byte{1, 0, 0, 0, 0, 0, 0, 5, 'a'}), nil, nil); err == nil {
		t.Error("truncated frame accepted")
	}
}

func TestRuntimeLogErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct{ log, want string }{
		{`{"level":"warning","msg":"meh","time":"t"}` + "\n" + `{"level":"error","msg":"runc create failed: bad","time":"t"}` + "\n", "runc create failed: bad"},
		{`{"level":"error","msg":"a"}` + "\n" + `{"level":"error","msg":"a"}` + "\n" + `{"level":"fatal","msg":"b"}`, "a\nb"},
		{"plain text failure\n", "plain text failure"},
		{"", ""},
	}
	for i, c := range cases {
		p := filepath.Join(dir, fmt.Sprint(i))
		os.WriteFile(p, []byte(c.log), 0o644)
		if got := runtimeLogErrors(p); got != c.want {
			t.Errorf("case %d: %q, want %q", i, got, c.want)
		}
	}
}

func TestErrorKindsRoundTrip(t *testing.T) {
	for _, k := range kinds {
		err := errorFromReply(errorReply{Error: "x", Kind: kindOf(fmt.Errorf("wrapped: %w", k.class))})
		if !errors.Is(err, k.class) || err.Error() != "x" {
			t.Errorf("%s: %v", k.name, err)
		}
	}
	if err := errorFromReply(errorReply{Error: "plain"}); err.Error() != "plain" || errdefs.IsNotFound(err) {
		t.Errorf("plain: %v", err)
	}
}

// Socket paths longer than sun_path go through /proc/self/fd.
func TestLongSocketPath(t *testing.T) {
	dir := t.TempDir()
	long := filepath.Join(dir, strings.Repeat("d", 60), strings.Repeat("e", 60))
	if err := os.MkdirAll(long, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(long, "s.sock")
	l, err := listenUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 || st.Mode().Type() != os.ModeSocket {
		t.Fatalf("socket %v %v", st, err)
	}
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Write([]byte("hi"))
			c.Close()
		}
	}()
	c, err := dialUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b, _ := io.ReadAll(c)
	if string(b) != "hi" {
		t.Errorf("read %q", b)
	}
}

func TestHubFanOut(t *testing.T) {
	h := newHub(false)
	type client struct {
		conn     net.Conn
		out, err bool
	}
	var cs []client
	var reads []chan []byte
	for _, want := range [][2]bool{{true, true}, {true, false}, {false, true}} {
		a, b := net.Pipe()
		if !h.add(a, want[0], want[1], nil) {
			t.Fatal("add refused")
		}
		cs = append(cs, client{b, want[0], want[1]})
		ch := make(chan []byte, 1)
		go func() { d, _ := io.ReadAll(b); ch <- d }()
		reads = append(reads, ch)
	}
	h.broadcast(StreamStdout, []byte("o"))
	h.broadcast(StreamStderr, []byte("e"))
	h.close()
	if h.add(nil, true, true, nil) {
		t.Error("add after close accepted")
	}
	for i, ch := range reads {
		var out, errb bytes.Buffer
		if err := Demux(bytes.NewReader(<-ch), &out, &errb); err != nil {
			t.Fatal(err)
		}
		want := func(b bool, s string) string {
			if b {
				return s
			}
			return ""
		}
		if out.String() != want(cs[i].out, "o") || errb.String() != want(cs[i].err, "e") {
			t.Errorf("client %d: %q %q", i, out.String(), errb.String())
		}
	}
}

// TestRebirth: once its container runs, the shim hands over to a fresh
// image of itself; the container, its output (an incomplete line
// included), the waiters and the control socket carry on.
func TestRebirth(t *testing.T) {
	dir := t.TempDir()
	goFile := filepath.Join(dir, "go")
	f := newFake(t, fmt.Sprintf("printf 'a partial'; while [ ! -e %s ]; do sleep 0.01; done; echo ' line'; echo err >&2; exit 7\n", goFile))
	f.opts.RebirthAfter = 20 * time.Millisecond
	c := f.launch()
	st, err := c.Start()
	if err != nil {
		t.Fatal(err)
	}
	waited := make(chan ExitStatus, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		e, err := c.Wait(ctx)
		if err != nil {
			t.Errorf("wait across the hand-over: %v", err)
		}
		waited <- e
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(f.opts.ShimLog)
		if bytes.Contains(b, []byte("resumed in a fresh image")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no hand-over; shim log:\n%s", b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	after, err := c.State()
	if err != nil || after.Status != StatusRunning || after.Pid != st.Pid || !after.StartedAt.Equal(st.StartedAt) {
		t.Fatalf("state after the hand-over %+v %v, before %+v", after, err, st)
	}
	if err := os.WriteFile(goFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if e := <-waited; e.ExitCode != 7 {
		t.Errorf("exit %+v", e)
	}
	var stdout []string
	err = logging.Read(context.Background(), f.opts.LogPath, logging.ReadOptions{Tail: -1}, func(r logging.Record) error {
		if r.Stream == "stdout" {
			stdout = append(stdout, string(r.Line))
		} else if string(r.Line) != "err\n" {
			t.Errorf("stderr record %q", r.Line)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(stdout) != 1 || stdout[0] != "a partial line\n" {
		t.Errorf("stdout records %q: the incomplete line did not carry over", stdout)
	}
	if err := c.Shutdown(); err != nil {
		t.Fatal(err)
	}
}

// TestSpare: a spare shim, launched ahead, becomes a container's shim at
// Take; until then it only answers assign, state and shutdown.
func TestSpare(t *testing.T) {
	goFile := filepath.Join(t.TempDir(), "go")
	f := newFake(t, fmt.Sprintf("echo from-spare; while [ ! -e %s ]; do sleep 0.01; done; exit 4\n", goFile))
	f.opts.RebirthAfter = 20 * time.Millisecond // and the hand-over of a shim born a spare
	self, _ := os.Executable()
	p := &Spares{Binary: self, Dir: t.TempDir()}
	t.Cleanup(p.Close)
	ready := func() spare {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			p.mu.Lock()
			var sp spare
			if len(p.ready) > 0 {
				sp = p.ready[0]
			}
			p.mu.Unlock()
			if sp.dir != "" {
				return sp
			}
			if time.Now().After(deadline) {
				t.Fatal("no spare ready")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if p.Take(f.opts) {
		t.Fatal("took a spare before any was launched")
	}
	p.Fill()
	p.Fill() // one is on its way: no second
	sp := ready()
	p.mu.Lock()
	if n := len(p.ready); n != 1 {
		t.Errorf("%d spares ready, want 1", n)
	}
	p.mu.Unlock()
	if _, err := Open(sp.dir).Start(); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("start of an unassigned spare: %v", err)
	}
	if !p.Take(f.opts) {
		t.Fatal("no spare taken")
	}
	if _, err := os.Stat(sp.dir); !os.IsNotExist(err) {
		t.Errorf("the spare's directory is still there: %v", err)
	}
	c := Open(f.opts.StateDir)
	if err := c.call(request{Op: opAssign, Options: &Options{ID: "x", Bundle: "/", Runtime: "/bin/true", StateDir: f.opts.StateDir}}, nil); !errdefs.IsConflict(err) {
		t.Errorf("second assign: %v", err)
	}
	if _, err := c.Start(); err != nil {
		t.Fatal(err)
	}
	shimLog := filepath.Join(f.opts.StateDir, "shim.log")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		b, _ := os.ReadFile(shimLog)
		if bytes.Contains(b, []byte("resumed in a fresh image")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no hand-over; shim log:\n%s", b)
		}
	}
	os.WriteFile(goFile, nil, 0o644)
	if e := waitExit(t, c); e.ExitCode != 4 {
		t.Errorf("exit %+v", e)
	}
	if got := logText(t, f.opts.LogPath); got["stdout"] != "from-spare\n" {
		t.Errorf("log %q", got)
	}
	p.Fill()
	next := ready()
	p.Close()
	if _, err := os.Stat(next.dir); !os.IsNotExist(err) {
		t.Errorf("Close left the spare's directory: %v", err)
	}
	if c.Shutdown() != nil {
		t.Error("shutdown")
	}
}
