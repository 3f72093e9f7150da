package integration

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// TestRuntimeBinaryProtected is the /proc/self/exe escape (CVE-2019-5736
// class): a process in the container opens the runtime binary through
// /proc/1/exe while the init is still berth-oci, waits until the init has
// exec'd the user process (the binary is no longer busy), then reopens
// that fd for writing. The runtime executes itself from a detached
// read-only mount, so the write must fail and the binary stay intact.
func TestRuntimeBinaryProtected(t *testing.T) {
	r := newRT(t)
	// The init is the slim berth-oci-init when it sits next to berth-oci.
	initBin := filepath.Join(filepath.Dir(ociBin), "berth-oci-init")
	before, beforeInit := fileSum(t, ociBin), fileSum(t, initBin)
	b := bundle(t, func(s *specs.Spec) { s.Root.Readonly = false }, "sleep", "100")
	rootfs := filepath.Join(b, "rootfs")
	r.must("create", "--bundle", b, "exe")
	script := `exec 3</proc/1/exe
while [ ! -e /tmp/go ]; do sleep 0.05; done
if echo PWNED >> /proc/self/fd/3; then echo WROTE > /tmp/result; else echo FAILED > /tmp/result; fi 2>/tmp/err`
	r.must("exec", "-d", "exe", "sh", "-c", script)
	time.Sleep(200 * time.Millisecond) // let it open the fd while the init is berth-oci
	r.must("start", "exe")
	if err := os.WriteFile(filepath.Join(rootfs, "tmp/go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var result []byte
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if b, err := os.ReadFile(filepath.Join(rootfs, "tmp/result")); err == nil && len(b) > 0 {
			result = b
			break
		}
	}
	errText, _ := os.ReadFile(filepath.Join(rootfs, "tmp/err"))
	if string(result) != "FAILED\n" {
		t.Fatalf("attack result %q (stderr %q)", result, errText)
	}
	if !strings.Contains(string(errText), "Read-only file system") {
		t.Fatalf("write refused for another reason than the read-only mount: %q", errText)
	}
	if fileSum(t, ociBin) != before || fileSum(t, initBin) != beforeInit {
		t.Fatal("runtime binary changed")
	}
}

func fileSum(t *testing.T, p string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}
