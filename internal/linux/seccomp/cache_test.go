//go:build linux && cgo

package seccomp

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestMarshalRoundTrip(t *testing.T) {
	s := defaultLikeProfile(uint(unix.EPERM))
	s.Flags = []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog}
	f, err := Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var g Filter
	if err := g.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*f, g) {
		t.Fatal("round trip changed the filter")
	}
	for _, bad := range [][]byte{nil, b[:10], b[:len(b)-1], append([]byte("x"), b[1:]...)} {
		if err := g.UnmarshalBinary(bad); err == nil {
			t.Errorf("accepted %d malformed bytes", len(bad))
		}
	}
}

func TestCompileCached(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	s := defaultLikeProfile(uint(unix.EPERM))
	want, err := Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	first, err := CompileCached(dir, s)
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("cache holds %d entries, want 1", len(entries))
	}
	second, err := CompileCached(dir, s)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(want, first) || !reflect.DeepEqual(want, second) {
		t.Fatal("cached filter differs from a fresh one")
	}
	// Another profile gets its own entry; an invalid one is still rejected.
	s2 := defaultLikeProfile(uint(unix.EACCES))
	if _, err := CompileCached(dir, s2); err != nil {
		t.Fatal(err)
	}
	s2.Syscalls[0].Names[0] = "nope"
	if _, err := CompileCached(dir, s2); err == nil {
		t.Fatal("invalid profile accepted from cache path")
	}
	// A corrupt entry is rebuilt.
	entries, _ = os.ReadDir(dir)
	for _, e := range entries {
		os.WriteFile(filepath.Join(dir, e.Name()), []byte("junk"), 0o600)
	}
	again, err := CompileCached(dir, s)
	if err != nil || !reflect.DeepEqual(want, again) {
		t.Fatalf("corrupt cache: %v", err)
	}
	// A directory others can write is not used.
	open := filepath.Join(t.TempDir(), "open")
	os.Mkdir(open, 0o777)
	os.Chmod(open, 0o777)
	if _, err := CompileCached(open, s); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(open); len(entries) != 0 {
		t.Fatalf("wrote %d entries into a world-writable directory", len(entries))
	}
}
