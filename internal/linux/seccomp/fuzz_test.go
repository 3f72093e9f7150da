//go:build linux && cgo

package seccomp

import (
	"encoding/json"
	"testing"

	"github.com/berth-dev/berth/internal/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// FuzzValidate feeds JSON profiles to Validate: it must never panic, and
// every error must be an InvalidArgument naming a linux.seccomp field.
// Seeds live in testdata/fuzz/FuzzValidate.
func FuzzValidate(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		var s specs.LinuxSeccomp
		if json.Unmarshal(data, &s) != nil {
			return
		}
		err := Validate(&s)
		if err == nil {
			return
		}
		if !errdefs.IsInvalidArgument(err) {
			t.Fatalf("error %v is not InvalidArgument", err)
		}
		if msg := err.Error(); len(msg) < len("linux.seccomp") || msg[:len("linux.seccomp")] != "linux.seccomp" {
			t.Fatalf("error %q does not name a linux.seccomp field", msg)
		}
	})
}
