package specgen

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/errdefs"
)

// maxProfileSize bounds a seccomp profile read from a file.
const maxProfileSize = 4 << 20

type securityOpts struct {
	noNewPrivileges bool
	seccomp         *profile // nil: unconfined
	unconfinedPaths bool     // systempaths=unconfined: no masked or read-only paths
	writableCgroups bool
}

// parseSecurityOpts reads --security-opt values as the Docker daemon does:
// "key=value", or the older "key:value"; "no-new-privileges" alone means
// true.
func parseSecurityOpts(list []string) (securityOpts, error) {
	out := securityOpts{seccomp: defaultProfile()}
	for _, opt := range list {
		key, value, ok := strings.Cut(opt, "=")
		if !ok && opt != "no-new-privileges" {
			key, value, ok = strings.Cut(opt, ":")
			if !ok {
				return out, errdefs.InvalidArgument("invalid --security-opt %q: expected key=value", opt)
			}
		}
		bad := func() error {
			return errdefs.InvalidArgument("invalid --security-opt %q", opt)
		}
		switch key {
		case "no-new-privileges":
			if !ok {
				out.noNewPrivileges = true
				continue
			}
			b, err := strconv.ParseBool(value)
			if err != nil {
				return out, bad()
			}
			out.noNewPrivileges = b
		case "seccomp":
			p, err := seccompOpt(value)
			if err != nil {
				return out, err
			}
			out.seccomp = p
		case "systempaths":
			if value != "unconfined" {
				return out, bad()
			}
			out.unconfinedPaths = true
		case "writable-cgroups":
			b, err := strconv.ParseBool(value)
			if err != nil {
				return out, bad()
			}
			out.writableCgroups = b
		case "label", "apparmor":
			// SELinux and AppArmor are not applied by this runtime; the
			// values are accepted so docker-compose files keep working.
			if value == "" {
				return out, bad()
			}
		default:
			return out, errdefs.InvalidArgument("invalid --security-opt %q: unknown option %q", opt, key)
		}
	}
	return out, nil
}

// seccompOpt reads "unconfined", "builtin", a profile's JSON (what the
// docker CLI sends after reading the file) or the path of a profile.
func seccompOpt(value string) (*profile, error) {
	switch v := strings.TrimSpace(value); {
	case v == "":
		return nil, errdefs.InvalidArgument("invalid --security-opt seccomp: a profile is needed")
	case v == "unconfined":
		return nil, nil
	case v == "builtin" || v == "default":
		return defaultProfile(), nil
	case strings.HasPrefix(v, "{"):
		return parseProfile([]byte(v))
	}
	b, err := readProfileFile(value)
	if err != nil {
		return nil, err
	}
	return parseProfile(b)
}

func readProfileFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errdefs.InvalidArgument("seccomp profile %s: no such file", name)
	}
	if err != nil {
		return nil, fmt.Errorf("open seccomp profile: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, fmt.Errorf("stat seccomp profile: %w", err)
	} else if !fi.Mode().IsRegular() {
		return nil, errdefs.InvalidArgument("seccomp profile %s is not a regular file", name)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxProfileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read seccomp profile: %w", err)
	}
	if len(b) > maxProfileSize {
		return nil, errdefs.InvalidArgument("seccomp profile %s is larger than %d bytes", name, maxProfileSize)
	}
	return b, nil
}
