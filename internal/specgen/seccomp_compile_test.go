//go:build linux && cgo

package specgen

import (
	"testing"

	"github.com/berth-dev/berth/internal/linux/seccomp"
)

// TestDefaultSeccompCompiles hands the default profile, as Generate makes it
// for the default set and for a container with every capability, to the
// runtime's own checker: every syscall name must be one libseccomp knows (or
// one of the recent ones berth-oci skips), every rule well formed.
func TestDefaultSeccompCompiles(t *testing.T) {
	if !seccomp.Enabled() {
		t.Skip("this kernel has no seccomp filters")
	}
	for _, caps := range [][]string{DefaultCapabilities(), allCapabilities()} {
		s, err := defaultProfile().resolve(caps, nativeArch(), kernelVersion())
		if err != nil {
			t.Fatal(err)
		}
		if err := seccomp.Validate(s); err != nil {
			t.Errorf("%d capabilities: %v", len(caps), err)
		}
	}
}
