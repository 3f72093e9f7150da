// Package caps maps capability names to numbers and applies the five
// capability sets of an OCI process to the calling thread.
package caps

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
)

// names is indexed by capability number (linux/capability.h).
var names = [...]string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
	"CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP",
	"CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
	"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
	"CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
	"CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// Names lists every capability this package knows, in number order.
func Names() []string { return append([]string(nil), names[:]...) }

// Parse returns the number of a capability name ("CAP_CHOWN"; the prefix and
// case are optional, as Docker accepts "chown").
func Parse(name string) (int, error) {
	n := strings.ToUpper(name)
	if !strings.HasPrefix(n, "CAP_") {
		n = "CAP_" + n
	}
	for i, v := range names {
		if v == n {
			return i, nil
		}
	}
	return -1, fmt.Errorf("unknown capability %q", name)
}

// Validate checks every name in the five sets, naming the offending field.
func Validate(c *specs.LinuxCapabilities) error {
	if c == nil {
		return nil
	}
	for set, list := range sets(c) {
		for i, name := range list {
			if _, err := Parse(name); err != nil {
				return errdefs.InvalidArgument("process.capabilities.%s[%d]: %v", set, i, err)
			}
		}
	}
	return nil
}

func sets(c *specs.LinuxCapabilities) map[string][]string {
	return map[string][]string{
		"bounding": c.Bounding, "effective": c.Effective, "inheritable": c.Inheritable,
		"permitted": c.Permitted, "ambient": c.Ambient,
	}
}

var lastCap = sync.OnceValue(func() int {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			return n
		}
	}
	return len(names) - 1
})

// Last is the highest capability number the running kernel knows.
func Last() int { return lastCap() }

// mask turns names into a bitmask, ignoring capabilities this kernel lacks
// (a newer name on an older kernel is not an error, as in runc).
func mask(list []string) uint64 {
	var m uint64
	for _, name := range list {
		if n, err := Parse(name); err == nil && n <= Last() {
			m |= 1 << uint(n)
		}
	}
	return m
}

// DropBounding removes every capability not in keep from the bounding set.
// It must run before switching user, while CAP_SETPCAP is held.
func DropBounding(c *specs.LinuxCapabilities) error {
	var keep uint64
	if c != nil {
		keep = mask(c.Bounding)
	}
	for n := 0; n <= Last(); n++ {
		if keep&(1<<uint(n)) != 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(n), 0, 0, 0); err != nil && err != unix.EINVAL {
			return fmt.Errorf("drop %s from bounding set: %w", names[n], err)
		}
	}
	return nil
}

// Apply sets the effective, permitted and inheritable sets of the calling
// thread, then raises the ambient set.
func Apply(c *specs.LinuxCapabilities) error {
	var e, p, i uint64
	if c != nil {
		e, p, i = mask(c.Effective), mask(c.Permitted), mask(c.Inheritable)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{Effective: uint32(e), Permitted: uint32(p), Inheritable: uint32(i)},
		{Effective: uint32(e >> 32), Permitted: uint32(p >> 32), Inheritable: uint32(i >> 32)},
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && err != unix.EINVAL {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	if c == nil {
		return nil
	}
	for _, name := range c.Ambient {
		n, err := Parse(name)
		if err != nil || n > Last() {
			continue
		}
		// Raising an ambient capability needs it in both the permitted and the
		// inheritable set; the kernel says EPERM otherwise, which we ignore as runc does.
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(n), 0, 0); err != nil && err != unix.EPERM {
			return fmt.Errorf("raise ambient %s: %w", name, err)
		}
	}
	return nil
}

// Available drops from every set the capabilities the runtime itself does
// not hold in its bounding set (on this project's VMs, CAP_SYS_RESOURCE):
// the kernel would refuse the whole capset otherwise. It returns what it
// dropped ("set: CAP_X") for the caller to report.
func Available(c *specs.LinuxCapabilities) (*specs.LinuxCapabilities, []string) {
	if c == nil {
		return nil, nil
	}
	have := ownBounding()
	var dropped []string
	filter := func(set string, list []string) []string {
		out := list[:0:0]
		for _, name := range list {
			n, err := Parse(name)
			if err == nil && n <= Last() && have&(1<<uint(n)) == 0 {
				dropped = append(dropped, set+": "+name)
				continue
			}
			out = append(out, name)
		}
		return out
	}
	return &specs.LinuxCapabilities{
		Bounding: filter("bounding", c.Bounding), Effective: filter("effective", c.Effective),
		Inheritable: filter("inheritable", c.Inheritable), Permitted: filter("permitted", c.Permitted),
		Ambient: filter("ambient", c.Ambient),
	}, dropped
}

// ownBounding reads the calling thread's bounding set.
func ownBounding() uint64 {
	var m uint64
	for n := 0; n <= Last(); n++ {
		if r, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(n), 0, 0, 0); err == nil && r == 1 {
			m |= 1 << uint(n)
		}
	}
	return m
}
