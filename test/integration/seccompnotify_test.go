package integration

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/oci"
)

// TestSeccompNotifyListener: a NOTIFY rule hands the notify fd to the
// listener at linux.seccomp.listenerPath (a host path), with the process
// state. Once the listener closes the fd, notified syscalls fail ENOSYS.
func TestSeccompNotifyListener(t *testing.T) {
	r := newRT(t)
	sock := filepath.Join(t.TempDir(), "listener.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	type got struct {
		state specs.ContainerProcessState
		fd    bool
		err   error
	}
	gotc := make(chan got, 1)
	go func() {
		conn, err := l.AcceptUnix()
		if err != nil {
			gotc <- got{err: err}
			return
		}
		defer conn.Close()
		f, err := conn.File()
		if err != nil {
			gotc <- got{err: err}
			return
		}
		defer f.Close()
		fdFile, err := oci.RecvFD(f)
		if err != nil {
			gotc <- got{err: err}
			return
		}
		var g got
		g.fd = true
		g.err = json.Unmarshal([]byte(fdFile.Name()), &g.state)
		fdFile.Close() // no supervisor: notified calls now fail
		gotc <- g
	}()
	b := bundle(t, func(s *specs.Spec) {
		s.Root.Readonly = false
		s.Linux.Seccomp = &specs.LinuxSeccomp{
			DefaultAction:    specs.ActAllow,
			ListenerPath:     sock,
			ListenerMetadata: "berth-test",
			Syscalls:         []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActNotify}},
		}
	}, "sh", "-c", "sleep 0.3; mkdir /tmp/notified; echo rc=$?")
	res := r.run("run", "--bundle", b, "notify")
	g := <-gotc
	if g.err != nil || !g.fd {
		t.Fatalf("listener: %v (fd received: %v)", g.err, g.fd)
	}
	if len(g.state.Fds) != 1 || g.state.Fds[0] != specs.SeccompFdName || g.state.Metadata != "berth-test" || g.state.Pid <= 0 {
		t.Fatalf("listener state: %+v", g.state)
	}
	if !strings.Contains(res.stdout, "rc=1") || !strings.Contains(res.stderr, "Function not implemented") {
		t.Fatalf("mkdir under a closed listener: %s", res)
	}
	if _, err := os.Stat(filepath.Join(b, "rootfs/tmp/notified")); err == nil {
		t.Fatal("notified mkdir happened")
	}
}
