package integration

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/oci"
)

// consoleSocket listens where --console-socket points and hands over the
// first pty master received, made pollable so that reads can time out.
func consoleSocket(t *testing.T) (string, <-chan *os.File) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ch := make(chan *os.File, 1)
	go func() {
		defer close(ch)
		conn, err := l.AcceptUnix()
		if err != nil {
			return
		}
		defer conn.Close()
		f, err := conn.File()
		if err != nil {
			return
		}
		defer f.Close()
		m, err := oci.RecvFD(f)
		if err != nil {
			return
		}
		defer m.Close()
		fd, err := unix.Dup(int(m.Fd()))
		if err != nil {
			return
		}
		unix.CloseOnExec(fd)
		if err := unix.SetNonblock(fd, true); err != nil {
			unix.Close(fd)
			return
		}
		ch <- os.NewFile(uintptr(fd), "pty-master")
	}()
	return path, ch
}

func recvMaster(t *testing.T, ch <-chan *os.File) *os.File {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok || m == nil {
			t.Fatal("no pty master received on the console socket")
		}
		t.Cleanup(func() { m.Close() })
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for the pty master")
	}
	return nil
}

// readUntil reads the master until all of wants were seen, the slave side is
// gone (EIO), or 10 s passed.
func readUntil(m *os.File, wants ...string) string {
	var out []byte
	buf := make([]byte, 4096)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		m.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, err := m.Read(buf)
		out = append(out, buf[:n]...)
		done := true
		for _, w := range wants {
			done = done && strings.Contains(string(out), w)
		}
		if done || errors.Is(err, syscall.EIO) || errors.Is(err, io.EOF) {
			break
		}
	}
	return strings.ReplaceAll(string(out), "\r\n", "\n")
}

func isTTYName(s string) bool {
	return strings.HasPrefix(s, "/dev/pts/") || s == "/dev/console"
}

// hasLines reports whether out has lines matching each of preds, in order
// (other lines, such as the terminal's echo, may come between).
func hasLines(out string, preds ...func(string) bool) bool {
	for _, line := range strings.Split(out, "\n") {
		if len(preds) > 0 && preds[0](line) {
			preds = preds[1:]
		}
	}
	return len(preds) == 0
}

func is(want string) func(string) bool { return func(s string) bool { return s == want } }

func TestConsoleSocketCreate(t *testing.T) {
	r := newRT(t)
	sock, ch := consoleSocket(t)
	b := bundle(t, func(s *specs.Spec) {
		s.Process.Terminal = true
		s.Process.ConsoleSize = &specs.Box{Height: 40, Width: 100}
	}, "sh", "-c", "tty; stty size; echo done")
	r.must("create", "--console-socket", sock, "--bundle", b, "tty")
	m := recvMaster(t, ch)
	r.must("start", "tty")
	out := readUntil(m, "done\n")
	if !hasLines(out, isTTYName, is("40 100"), is("done")) {
		t.Errorf("terminal output %q: want a tty name, \"40 100\", done", out)
	}
	r.waitStatus("tty", "stopped")
	r.must("delete", "tty")
}

func TestConsoleSocketExec(t *testing.T) {
	r := newRT(t)
	b := bundle(t, nil, "sleep", "1000")
	r.must("run", "-d", "--bundle", b, "ex")
	sock, ch := consoleSocket(t)
	r.must("exec", "-t", "-d", "--console-socket", sock, "ex",
		"sh", "-c", "read x; tty; test -t 0 && test -t 1 && test -t 2 && echo all-tty")
	m := recvMaster(t, ch)
	if _, err := m.Write([]byte("go\n")); err != nil {
		t.Errorf("write to the pty master: %v", err)
	}
	out := readUntil(m, "all-tty\n")
	if !hasLines(out, func(s string) bool { return strings.HasPrefix(s, "/dev/pts/") }, is("all-tty")) {
		t.Errorf("exec -t output %q", out)
	}
	// The container's own stdio is untouched: init has no terminal.
	if res := r.run("exec", "ex", "sh", "-c", "test -t 0 || echo no-tty"); res.stdout != "no-tty\n" {
		t.Errorf("exec without -t: %s", res)
	}
	// -t -d without a console socket has nowhere to send the master.
	if res := r.run("exec", "-t", "-d", "ex", "true"); res.code == 0 || !strings.Contains(res.stderr, "console") {
		t.Errorf("exec -t -d without --console-socket: %s", res)
	}
}

func TestConsoleSocketMissing(t *testing.T) {
	r := newRT(t)
	b := bundle(t, func(s *specs.Spec) { s.Process.Terminal = true }, "sh")
	cgPath := readSpec(t, b).Linux.CgroupsPath
	before := snapshotHost(t)
	res := r.run("create", "--bundle", b, "notty")
	if res.code == 0 || !strings.Contains(res.stderr, "console-socket") || !strings.Contains(res.stderr, "terminal") {
		t.Errorf("terminal without --console-socket: %s", res)
	}
	r.assertNoLeftovers(before, cgPath)
	// A socket nobody listens on fails too, and cleanly.
	res = r.run("create", "--console-socket", filepath.Join(t.TempDir(), "nobody.sock"), "--bundle", b, "notty")
	if res.code == 0 || !strings.Contains(res.stderr, "console") {
		t.Errorf("console socket without a listener: %s", res)
	}
	r.assertNoLeftovers(before, cgPath)
}
