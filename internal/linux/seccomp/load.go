//go:build linux && cgo

package seccomp

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Load builds the filter described by s and installs it on the calling
// thread (on every thread of the process if s asks for
// SECCOMP_FILTER_FLAG_TSYNC). Callers lock their OS thread, set
// no_new_privs or hold CAP_SYS_ADMIN, and exec from that thread; the filter
// is inherited across exec. It returns the user-notification fd (close-on-exec)
// when the profile uses SCMP_ACT_NOTIFY, else -1. A nil s loads nothing.
func Load(s *specs.LinuxSeccomp) (notifyFD int, err error) {
	f, err := Compile(s)
	if err != nil || f == nil {
		return -1, err
	}
	return f.Load()
}
