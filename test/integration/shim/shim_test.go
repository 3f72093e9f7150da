package shim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/logging"
	"github.com/berth-dev/berth/internal/shim"
)

func readLog(t *testing.T, path string) []logging.Record {
	t.Helper()
	var recs []logging.Record
	err := logging.Read(context.Background(), path, logging.ReadOptions{Tail: -1}, func(r logging.Record) error {
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// A container's streams reach the log apart, its exit code reaches wait
// and exit.json, and the shim deletes it from the runtime and leaves.
func TestOutputAndExitCode(t *testing.T) {
	f := newFixture(t, nil, "sh", "-c", "echo out; echo err >&2; exit 3")
	c := f.launch()
	st, err := c.State()
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != shim.StatusCreated || st.Pid <= 0 {
		t.Fatalf("state after create: %+v", st)
	}
	if err := c.Shutdown(); !errdefs.IsConflict(err) {
		t.Errorf("shutdown of a created container: %v, want a conflict", err)
	}
	if _, err := c.Start(); err != nil {
		t.Fatal(err)
	}
	e := wait(t, c)
	if e.ExitCode != 3 || e.Signal != 0 || e.ExitedAt.IsZero() {
		t.Errorf("wait: %+v", e)
	}
	fe, err := shim.ReadExitFile(f.stateDir)
	if err != nil || fe.ExitCode != 3 {
		t.Errorf("exit.json: %+v %v", fe, err)
	}
	st, err = c.State()
	if err != nil || st.Status != shim.StatusStopped || st.ExitCode != 3 || st.StartedAt.IsZero() || st.StartedAt.After(st.ExitedAt) {
		t.Errorf("state after exit: %+v %v", st, err)
	}
	got := map[string]string{}
	for _, r := range readLog(t, f.logPath) {
		got[r.Stream] += string(r.Line)
	}
	if got["stdout"] != "out\n" || got["stderr"] != "err\n" || len(got) != 2 {
		t.Errorf("log: %q", got)
	}
	if err := c.Kill(syscall.SIGTERM, false); !errdefs.IsConflict(err) {
		t.Errorf("kill after exit: %v, want a conflict", err)
	}
	// Shutdown returns once the runtime has deleted the container.
	if err := c.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if ids := f.runtimeIDs(); len(ids) != 0 {
		t.Errorf("runtime still has %v", ids)
	}
	f.waitShimGone(5 * time.Second)
	if _, err := os.Stat(filepath.Join(f.stateDir, shim.SocketName)); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
	// With the shim gone, Wait falls back to exit.json.
	if e, err := c.Wait(context.Background()); err != nil || e.ExitCode != 3 {
		t.Errorf("wait without a shim: %+v %v", e, err)
	}
}

// Without shutdown the shim lingers a little after the exit, then leaves.
func TestShimLeavesAfterExit(t *testing.T) {
	f := newFixture(t, nil, "true")
	c := f.launch()
	if _, err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if e := wait(t, c); e.ExitCode != 0 {
		t.Errorf("exit %+v", e)
	}
	if _, err := c.State(); err != nil {
		t.Errorf("state during the linger: %v", err)
	}
	f.waitShimGone(10 * time.Second)
	if _, err := shim.Dial(f.stateDir); !errdefs.IsUnavailable(err) {
		t.Errorf("dial after the shim left: %v", err)
	}
}

// Bytes written through attach reach cat's stdin; every attached client
// gets the output; close-stdin ends cat.
func TestAttachStdin(t *testing.T) {
	f := newFixture(t, nil, "cat")
	f.opts.Stdin = true
	c := f.launch()
	a1, err := c.Attach(true, true, true)
	if err != nil {
		t.Fatal(err)
	}
	defer a1.Close()
	a2, err := c.Attach(false, true, false)
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	r1, r2 := readStream(a1), readStream(a2)
	if _, err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := a1.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	r1.until(t, "hello\n")
	r2.until(t, "hello\n")
	// One client ending its input leaves the container's stdin open.
	closeWrite(t, a1)
	a3, err := c.Attach(true, true, true)
	if err != nil {
		t.Fatal(err)
	}
	defer a3.Close()
	r3 := readStream(a3)
	if _, err := a3.Write([]byte("again\n")); err != nil {
		t.Fatal(err)
	}
	r3.until(t, "again\n")
	if err := c.CloseStdin(); err != nil {
		t.Fatal(err)
	}
	if e := wait(t, c); e.ExitCode != 0 {
		t.Errorf("exit %+v", e)
	}
	for i, r := range []*streamReader{r1, r2, r3} {
		out, errOut := demux(t, []byte(r.end(t)))
		want := []string{"hello\nagain\n", "hello\nagain\n", "again\n"}[i]
		if out != want || errOut != "" {
			t.Errorf("client %d got stdout %q stderr %q, want %q", i+1, out, errOut, want)
		}
	}
	if recs := readLog(t, f.logPath); len(recs) != 2 || string(recs[1].Line) != "again\n" {
		t.Errorf("log: %+v", recs)
	}
}

// A container with a terminal: resize before and after start, attach,
// type a line.
func TestTTY(t *testing.T) {
	f := newFixture(t, func(s *specs.Spec) { s.Process.Terminal = true },
		"sh", "-c", "stty size; read line; echo got:$line; stty size")
	f.opts.TTY, f.opts.Stdin = true, true
	c := f.launch()
	a, err := c.Attach(true, true, true)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	r := readStream(a)
	if err := c.Resize(100, 30); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Start(); err != nil {
		t.Fatal(err)
	}
	r.until(t, "30 100\r\n")
	if err := c.Resize(120, 40); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Write([]byte("abc\n")); err != nil {
		t.Fatal(err)
	}
	r.until(t, "40 120\r\n")
	out := r.end(t)
	if !strings.Contains(out, "got:abc\r\n") {
		t.Errorf("terminal output %q", out)
	}
	if e := wait(t, c); e.ExitCode != 0 {
		t.Errorf("exit %+v", e)
	}
	var log string
	for _, rec := range readLog(t, f.logPath) {
		if rec.Stream != "stdout" {
			t.Errorf("tty record on %s", rec.Stream)
		}
		log += string(rec.Line)
	}
	if !strings.Contains(log, "got:abc\r\n") || !strings.Contains(log, "30 100") {
		t.Errorf("log %q", log)
	}
	if err := c.Resize(10, 10); err == nil {
		t.Error("resize after exit succeeded")
	}
}

// SIGTERM kills a process that does not handle it: exit code 143.
func TestKillTerm(t *testing.T) {
	// Out of a pid namespace, so that the signal's default action applies
	// (an init ignores signals it does not handle).
	f := newFixture(t, func(s *specs.Spec) {
		var ns []specs.LinuxNamespace
		for _, n := range s.Linux.Namespaces {
			if n.Type != specs.PIDNamespace {
				ns = append(ns, n)
			}
		}
		s.Linux.Namespaces = ns
	}, "sleep", "1000")
	c := f.launch()
	if _, err := c.Start(); err != nil {
		t.Fatal(err)
	}
	st, err := c.State()
	if err != nil || st.Status != shim.StatusRunning {
		t.Fatalf("state %+v %v", st, err)
	}
	if err := c.Kill(syscall.SIGTERM, false); err != nil {
		t.Fatal(err)
	}
	e := wait(t, c)
	if e.ExitCode != 143 || e.Signal != int(syscall.SIGTERM) {
		t.Errorf("exit %+v, want 143 by SIGTERM", e)
	}
	if fe, _ := shim.ReadExitFile(f.stateDir); fe.ExitCode != 143 || fe.Signal != 15 {
		t.Errorf("exit.json %+v", fe)
	}
}

func execProcess(args ...string) specs.Process {
	return specs.Process{Args: args, Env: []string{"PATH=/bin", "TERM=xterm"}, Cwd: "/"}
}

// Processes exec'd through the shim: output, stdin, exit codes, a terminal.
func TestExec(t *testing.T) {
	f := newFixture(t, nil, "sleep", "1000")
	c := f.launch()
	if _, _, err := c.Exec("early", execProcess("true"), false, false); !errdefs.IsConflict(err) {
		t.Errorf("exec before start: %v, want a conflict", err)
	}
	if _, err := c.Start(); err != nil {
		t.Fatal(err)
	}

	pid, conn, err := c.Exec("e1", execProcess("sh", "-c", "echo hi; echo oops >&2; exit 7"), false, false)
	if err != nil {
		t.Fatal(err)
	}
	if pid <= 0 {
		t.Errorf("pid %d", pid)
	}
	out, errOut := demux(t, []byte(readStream(conn).end(t)))
	conn.Close()
	if out != "hi\n" || errOut != "oops\n" {
		t.Errorf("exec output %q %q", out, errOut)
	}
	es, err := c.ExecState("e1")
	if err != nil || es.Running || es.ExitCode != 7 || es.Pid != pid {
		t.Errorf("exec state %+v %v", es, err)
	}
	if _, _, err := c.Exec("e1", execProcess("true"), false, false); !errdefs.IsAlreadyExists(err) {
		t.Errorf("reused exec id: %v", err)
	}
	if _, err := c.ExecState("nope"); !errdefs.IsNotFound(err) {
		t.Errorf("unknown exec: %v", err)
	}

	// stdin, ended by the client's half-close.
	_, conn, err = c.Exec("e2", execProcess("sh", "-c", "tr a-z A-Z"), false, true)
	if err != nil {
		t.Fatal(err)
	}
	r := readStream(conn)
	conn.Write([]byte("shout\n"))
	closeWrite(t, conn)
	out, _ = demux(t, []byte(r.end(t)))
	conn.Close()
	if out != "SHOUT\n" {
		t.Errorf("exec stdin: %q", out)
	}
	if es, _ := c.ExecState("e2"); es.Running || es.ExitCode != 0 {
		t.Errorf("exec state %+v", es)
	}

	// A terminal, resized while the process runs.
	_, conn, err = c.Exec("e3", execProcess("sh", "-c", "read x; stty size; exit 2"), true, true)
	if err != nil {
		t.Fatal(err)
	}
	r = readStream(conn)
	if err := c.ExecResize("e3", 90, 20); err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte("\n"))
	r.until(t, "20 90")
	r.end(t)
	conn.Close()
	if es, _ := c.ExecState("e3"); es.Running || es.ExitCode != 2 {
		t.Errorf("tty exec state %+v", es)
	}
	if err := c.ExecResize("e1", 10, 10); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("resize of an exec without a terminal: %v", err)
	}

	// A bad process fails with the runtime's error.
	if _, _, err := c.Exec("e4", execProcess("/no/such/binary"), false, false); err == nil {
		t.Error("exec of a missing binary succeeded")
	} else {
		t.Logf("exec of a missing binary: %v", err)
	}

	// Exec output is not the container's log.
	if recs := readLog(t, f.logPath); len(recs) != 0 {
		t.Errorf("log has %d records", len(recs))
	}
	if err := c.Kill(syscall.SIGKILL, false); err != nil {
		t.Fatal(err)
	}
	if e := wait(t, c); e.ExitCode != 137 {
		t.Errorf("exit %+v", e)
	}
}

// The shim outlives its parent (berthd), and a new client finds it.
func TestSurvivesParentKill(t *testing.T) {
	f := newFixture(t, nil, "sh", "-c", "read x; echo bye $x; exit 5")
	f.opts.Stdin = true
	opts, _ := json.Marshal(f.opts)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	helper := exec.Command(self, "-test.run=^$")
	helper.Env = append(os.Environ(), helperEnv+"="+string(opts))
	stdout, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	line := make([]byte, 200)
	n, _ := stdout.Read(line)
	if !strings.Contains(string(line[:n]), "launched") {
		helper.Process.Kill()
		helper.Wait()
		t.Fatalf("helper: %q", line[:n])
	}
	if err := helper.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	helper.Wait()

	c, err := shim.Dial(f.stateDir)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := c.State(); err != nil || st.Status != shim.StatusCreated {
		t.Fatalf("state after the parent died: %+v %v", st, err)
	}
	if pids := f.shimPids(); len(pids) != 1 {
		t.Fatalf("shims: %v", pids)
	}
	a, err := c.Attach(true, true, true)
	if err != nil {
		t.Fatal(err)
	}
	r := readStream(a)
	if _, err := c.Start(); err != nil {
		t.Fatal(err)
	}
	a.Write([]byte("now\n"))
	out, _ := demux(t, []byte(r.end(t)))
	if out != "bye now\n" {
		t.Errorf("output %q", out)
	}
	if e := wait(t, c); e.ExitCode != 5 {
		t.Errorf("exit %+v", e)
	}
}

// A bundle without its rootfs: Launch fails with the runtime's message and
// leaves no shim, socket or runtime state.
func TestBadBundle(t *testing.T) {
	f := newFixture(t, nil, "true")
	if err := os.RemoveAll(filepath.Join(f.bundle, "rootfs")); err != nil {
		t.Fatal(err)
	}
	err := shim.Launch(f.opts)
	if err == nil {
		t.Fatal("launch succeeded")
	}
	t.Logf("launch: %v", err)
	if !strings.Contains(err.Error(), "rootfs") {
		t.Errorf("error does not name the problem: %v", err)
	}
	if msg := shim.ReadCreateError(f.stateDir); msg == "" || !strings.Contains(err.Error(), msg) {
		t.Errorf("create-error %q", msg)
	}
	if pids := f.shimPids(); len(pids) != 0 {
		t.Errorf("shim left running: %v", pids)
	}
	if ids := f.runtimeIDs(); len(ids) != 0 {
		t.Errorf("runtime state left: %v", ids)
	}
	ents, _ := os.ReadDir(f.stateDir)
	for _, e := range ents {
		if e.Name() != shim.CreateErrorName {
			t.Errorf("left in the state dir: %s", e.Name())
		}
	}
	if _, err := shim.Dial(f.stateDir); !errdefs.IsUnavailable(err) {
		t.Errorf("dial: %v", err)
	}
}

// A tiny max size rotates the log; the reader sees the newest lines in order.
func TestLogRotation(t *testing.T) {
	f := newFixture(t, nil, "sh", "-c", "i=0; while [ $i -lt 300 ]; do echo line $i; i=$((i+1)); done")
	f.opts.LogMaxSize, f.opts.LogMaxFiles = 2000, 3
	c := f.launch()
	if _, err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if e := wait(t, c); e.ExitCode != 0 {
		t.Fatalf("exit %+v", e)
	}
	names, _ := filepath.Glob(f.logPath + "*")
	if len(names) != 3 {
		t.Errorf("log files %v", names)
	}
	for _, n := range names {
		if st, _ := os.Stat(n); st.Size() > 2000 {
			t.Errorf("%s is %d bytes", n, st.Size())
		}
	}
	recs := readLog(t, f.logPath)
	if len(recs) < 10 || len(recs) >= 300 {
		t.Fatalf("%d records", len(recs))
	}
	first := 300 - len(recs)
	for i, r := range recs {
		if want := fmt.Sprintf("line %d\n", first+i); string(r.Line) != want {
			t.Fatalf("record %d: %q, want %q", i, r.Line, want)
		}
	}
}

// Following the log while the container writes, ended by the exit.
func TestFollowLog(t *testing.T) {
	f := newFixture(t, nil, "sh", "-c", "for i in 1 2 3; do echo tick $i; sleep 0.2; done")
	f.opts.LogMaxSize, f.opts.LogMaxFiles = 120, 2
	c := f.launch()
	done := make(chan struct{})
	var got []string
	errc := make(chan error, 1)
	go func() {
		errc <- logging.Read(context.Background(), f.logPath, logging.ReadOptions{Tail: -1, Follow: true, Done: done, MaxFiles: 2},
			func(r logging.Record) error {
				got = append(got, string(r.Line))
				return nil
			})
	}()
	if _, err := c.Start(); err != nil {
		t.Fatal(err)
	}
	wait(t, c)
	close(done)
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follow did not end")
	}
	if strings.Join(got, "") != "tick 1\ntick 2\ntick 3\n" {
		t.Errorf("followed %q", got)
	}
}

// With RunOnStart the shim answers before the container exists; a client
// attached then, whose input ends before the start (StdinOnce), gets it
// all to the process, then EOF; the start is one runtime run.
func TestRunOnStart(t *testing.T) {
	f := newFixture(t, nil, "sh", "-c", "cat; echo done")
	f.opts.Stdin, f.opts.RunOnStart = true, true
	c := f.launch()
	st, err := c.State()
	if err != nil || st.Status != shim.StatusCreated || st.Pid != 0 {
		t.Fatalf("state before start: %+v %v", st, err)
	}
	if ids := f.runtimeIDs(); len(ids) != 0 {
		t.Errorf("the runtime has %v before the start", ids)
	}
	a, err := c.AttachStdinOnce(true, true)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	r := readStream(a)
	if _, err := a.Write([]byte("early\n")); err != nil {
		t.Fatal(err)
	}
	closeWrite(t, a)
	if _, err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if st, err := c.State(); err != nil || st.Pid <= 0 || st.StartedAt.IsZero() {
		t.Errorf("state after start: %+v %v", st, err)
	}
	if e := wait(t, c); e.ExitCode != 0 {
		t.Errorf("exit %+v", e)
	}
	if out, _ := demux(t, []byte(r.end(t))); out != "early\ndone\n" {
		t.Errorf("stdout %q", out)
	}
	if _, err := c.Start(); !errdefs.IsConflict(err) {
		t.Errorf("second start: %v, want a conflict", err)
	}
	if err := c.Shutdown(); err != nil {
		t.Fatal(err)
	}
	f.waitShimGone(5 * time.Second)
	if ids := f.runtimeIDs(); len(ids) != 0 {
		t.Errorf("runtime still has %v", ids)
	}
}

// With RunOnStart a bad bundle fails the start, with the runtime's
// message, and the shim leaves nothing behind; a shim never started
// shuts down on request.
func TestRunOnStartFailure(t *testing.T) {
	f := newFixture(t, nil, "true")
	f.opts.RunOnStart = true
	if err := os.RemoveAll(filepath.Join(f.bundle, "rootfs")); err != nil {
		t.Fatal(err)
	}
	c := f.launch()
	_, err := c.Start()
	if err == nil || !strings.Contains(err.Error(), "rootfs") {
		t.Fatalf("start: %v, want the runtime's rootfs error", err)
	}
	f.waitShimGone(10 * time.Second)
	if ids := f.runtimeIDs(); len(ids) != 0 {
		t.Errorf("runtime state left: %v", ids)
	}

	g := newFixture(t, nil, "true")
	g.opts.RunOnStart = true
	c = g.launch()
	if err := c.Kill(syscall.SIGTERM, false); !errdefs.IsConflict(err) {
		t.Errorf("kill before start: %v, want a conflict", err)
	}
	if err := c.Shutdown(); err != nil {
		t.Fatalf("shutdown before start: %v", err)
	}
	g.waitShimGone(5 * time.Second)
}
