//go:build !berthinit

package oci

import (
	"testing"

	"github.com/berth-dev/berth/internal/linux/seccomp"
)

// Warm is only worth its place if its config is one the runtime accepts
// and compiles: a config that fails early would warm nothing, silently.
func TestWarmConfigIsAcceptedAndCompiles(t *testing.T) {
	spec, err := parseSpec(warmConfig, "warm")
	if err != nil {
		t.Fatalf("warm.json does not parse: %v", err)
	}
	if spec.Process == nil || spec.Linux == nil || spec.Linux.Resources == nil || len(spec.Mounts) == 0 {
		t.Fatalf("warm.json lacks process, linux.resources or mounts: the codecs of those go unwarmed")
	}
	if _, err := planNamespaces(spec.Linux.Namespaces); err != nil {
		t.Fatalf("namespaces: %v", err)
	}
	if spec.Linux.Seccomp == nil || len(spec.Linux.Seccomp.Syscalls) == 0 {
		t.Fatal("warm.json has no seccomp profile")
	}
	if !seccomp.Enabled() {
		t.Skip("no seccomp in this kernel")
	}
	if _, err := seccomp.Compile(spec.Linux.Seccomp); err != nil {
		t.Fatalf("its seccomp profile does not compile: %v", err)
	}
	Warm() // and the real thing runs through without a panic
}
