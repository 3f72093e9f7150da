package integration

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/testutil"
)

// TestDropIn proves berth-oci replaces runc under real high-level runtimes:
// podman (--runtime) and containerd's runc shim (BinaryName). Each script
// imports a busybox-static image into a private store of the peer, runs
// `echo ok` and checks through a logging wrapper that berth-oci did the work.
func TestDropIn(t *testing.T) {
	testutil.RequireRoot(t)
	for _, tc := range []struct{ name, tool string }{
		{"podman", "podman"},
		{"containerd", "containerd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := exec.LookPath(tc.tool); err != nil {
				t.Skipf("%s not installed: BERTH_DEPS_FULL=1 scripts/install-deps.sh installs it", tc.tool)
			}
			cmd := exec.Command("../../scripts/dropin/" + tc.name + ".sh")
			cmd.Env = append(cmd.Environ(), "BERTH_OCI="+ociBin)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s with berth-oci: %v\n%s", tc.name, err, out)
			}
			if !strings.Contains(string(out), "ok\n") || !strings.Contains(string(out), "berth-oci calls:") {
				t.Fatalf("unexpected output:\n%s", out)
			}
			t.Logf("%s", out)
		})
	}
}
