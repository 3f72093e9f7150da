//go:build linux && cgo

package seccomp

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestListenerState(t *testing.T) {
	b, err := ListenerState(&specs.LinuxSeccomp{ListenerMetadata: "meta"}, 42,
		specs.State{Version: specs.Version, ID: "c", Status: specs.StateCreating, Pid: 42, Bundle: "/b"})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got["ociVersion"] != specs.Version || got["pid"] != float64(42) || got["metadata"] != "meta" {
		t.Fatalf("state %s", b)
	}
	if fds, _ := got["fds"].([]any); len(fds) != 1 || fds[0] != "seccompFd" {
		t.Fatalf("fds %v", got["fds"])
	}
	if st, _ := got["state"].(map[string]any); st["id"] != "c" || st["status"] != "creating" {
		t.Fatalf("state.state %v", got["state"])
	}
}

// TestSendNotifyFD passes an ordinary fd and checks the agent sees the same
// file, the whole payload and one connection per send.
func TestSendNotifyFD(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := os.CreateTemp(t.TempDir(), "passed")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Large enough that a stream socket may split it.
	state, _ := json.Marshal(map[string]string{"metadata": string(make([]byte, 300000))})

	errc := make(chan error, 1)
	go func() { errc <- SendNotifyFD(sock, int(f.Fd()), state) }()
	conn, err := ln.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	payload, fds := readAll(t, conn)
	conn.Close()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if string(payload) != string(state) {
		t.Fatalf("payload %d bytes, sent %d", len(payload), len(state))
	}
	if len(fds) != 1 {
		t.Fatalf("got %d fds", len(fds))
	}
	defer unix.Close(fds[0])
	var a, b unix.Stat_t
	unix.Fstat(int(f.Fd()), &a)
	unix.Fstat(fds[0], &b)
	if a.Dev != b.Dev || a.Ino != b.Ino {
		t.Fatal("received fd is another file")
	}
}

func TestSendNotifyFDErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name  string
		path  string
		fd    int
		state []byte
	}{
		{"empty path", "", 0, []byte("{}")},
		{"negative fd", filepath.Join(dir, "s"), -1, []byte("{}")},
		{"not json", filepath.Join(dir, "s"), 0, []byte("{")},
		{"no listener", filepath.Join(dir, "missing.sock"), 0, []byte("{}")},
	}
	for _, tt := range tests {
		if err := SendNotifyFD(tt.path, tt.fd, tt.state); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}
