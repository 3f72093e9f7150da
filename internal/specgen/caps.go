package specgen

import (
	"slices"
	"strings"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/linux/caps"
)

// DefaultCapabilities is Docker's default capability set for a container
// that is not privileged.
func DefaultCapabilities() []string {
	return []string{
		"CAP_CHOWN",
		"CAP_DAC_OVERRIDE",
		"CAP_FSETID",
		"CAP_FOWNER",
		"CAP_MKNOD",
		"CAP_NET_RAW",
		"CAP_SETGID",
		"CAP_SETUID",
		"CAP_SETFCAP",
		"CAP_SETPCAP",
		"CAP_NET_BIND_SERVICE",
		"CAP_SYS_CHROOT",
		"CAP_KILL",
		"CAP_AUDIT_WRITE",
	}
}

// allCapabilities are the capabilities this kernel has, which is what
// "ALL" and --privileged grant.
func allCapabilities() []string {
	names := caps.Names()
	if last := caps.Last(); last >= 0 && last < len(names)-1 {
		names = names[:last+1]
	}
	return names
}

// normalizeCaps turns "net_admin", "NET_ADMIN" or "CAP_NET_ADMIN" into
// "CAP_NET_ADMIN" and keeps "ALL"; anything unknown is an error.
func normalizeCaps(list []string) ([]string, error) {
	out := make([]string, 0, len(list))
	for _, c := range list {
		if strings.EqualFold(c, "ALL") {
			out = append(out, "ALL")
			continue
		}
		n, err := caps.Parse(c)
		if err != nil || strings.TrimSpace(c) != c || c == "" {
			return nil, errdefs.InvalidArgument("unknown capability: %q", c)
		}
		out = append(out, caps.Names()[n])
	}
	return out, nil
}

// capabilities applies --cap-add and --cap-drop to the default set the way
// Docker does: privileged grants everything; adding ALL starts from every
// capability less the drops; dropping ALL keeps only the adds; otherwise the
// drops leave the defaults and the adds join them.
func capabilities(add, drop []string, privileged bool) ([]string, error) {
	adds, err := normalizeCaps(add)
	if err != nil {
		return nil, err
	}
	drops, err := normalizeCaps(drop)
	if err != nil {
		return nil, err
	}
	if privileged {
		return allCapabilities(), nil
	}
	var out []string
	switch {
	case slices.Contains(adds, "ALL"):
		for _, c := range allCapabilities() {
			if !slices.Contains(drops, c) {
				out = append(out, c)
			}
		}
	case slices.Contains(drops, "ALL"):
		out = adds
	default:
		for _, c := range DefaultCapabilities() {
			if !slices.Contains(drops, c) {
				out = append(out, c)
			}
		}
		out = append(out, adds...)
	}
	seen := map[string]bool{}
	dedup := out[:0:0]
	for _, c := range out {
		if c != "ALL" && !seen[c] {
			seen[c] = true
			dedup = append(dedup, c)
		}
	}
	return dedup, nil
}
