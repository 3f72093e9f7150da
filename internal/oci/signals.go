//go:build !berthinit

package oci

import (
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
)

// ParseSignal accepts "KILL", "SIGKILL", "kill", "9" and "SIGRTMIN+3".
func ParseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, errdefs.InvalidArgument("signal %q: out of range", s)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	const rtmin, rtmax = 34, 64
	for _, base := range []struct {
		prefix string
		n      int
		sign   int
	}{{"SIGRTMIN+", rtmin, 1}, {"SIGRTMAX-", rtmax, -1}} {
		if rest, ok := strings.CutPrefix(name, base.prefix); ok {
			if off, err := strconv.Atoi(rest); err == nil && off >= 0 && off <= rtmax-rtmin {
				return unix.Signal(base.n + base.sign*off), nil
			}
		}
	}
	switch name {
	case "SIGRTMIN":
		return rtmin, nil
	case "SIGRTMAX":
		return rtmax, nil
	}
	return 0, errdefs.InvalidArgument("unknown signal %q", s)
}
