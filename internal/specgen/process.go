package specgen

import (
	"math"
	"path"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/errdefs"
)

func process(img Image, o Options, hostname string, ns nsInfo) (*specs.Process, error) {
	args, err := command(img, o)
	if err != nil {
		return nil, err
	}
	if o.Init {
		if !path.IsAbs(o.InitPath) {
			return nil, errdefs.InvalidArgument("--init needs the absolute host path of the init binary, not %q", o.InitPath)
		}
		args = append([]string{InitDestination, "--"}, args...)
	}
	cwd, err := workingDir(img.WorkingDir, o.WorkingDir)
	if err != nil {
		return nil, err
	}
	userSpec := o.User
	if userSpec == "" {
		userSpec = img.User
	}
	u, home, err := resolveUserInRootfs(o.Rootfs, userSpec, o.GroupAdd, o.StrictGroups)
	if err != nil {
		return nil, err
	}
	if hostname == "" && ns.utsHost {
		// The container sees the host's name; HOSTNAME says the same.
		hostname = hostHostname()
	}
	env, err := environment(img.Env, o.Env, hostname, o.Tty, home)
	if err != nil {
		return nil, err
	}
	return &specs.Process{
		Terminal: o.Tty,
		User:     u,
		Args:     args,
		Env:      env,
		Cwd:      cwd,
	}, nil
}

// command applies docker's rules: a user entrypoint (even an empty one)
// replaces the image's and drops the image's CMD; a user CMD replaces the
// image's CMD.
func command(img Image, o Options) ([]string, error) {
	entrypoint, cmd := img.Entrypoint, img.Cmd
	userEntrypoint := o.Entrypoint
	if len(userEntrypoint) == 1 && userEntrypoint[0] == "" {
		// What `docker run --entrypoint ""` sends.
		userEntrypoint = nil
		o.EntrypointSet = true
	}
	if o.EntrypointSet || len(userEntrypoint) > 0 {
		entrypoint, cmd = userEntrypoint, nil
	}
	if len(o.Cmd) > 0 {
		cmd = o.Cmd
	}
	args := make([]string, 0, len(entrypoint)+len(cmd))
	args = append(args, entrypoint...)
	args = append(args, cmd...)
	if len(args) == 0 || args[0] == "" {
		return nil, errdefs.InvalidArgument("no command specified")
	}
	for _, a := range args {
		if strings.IndexByte(a, 0) >= 0 {
			return nil, errdefs.InvalidArgument("invalid command: an argument contains a NUL byte")
		}
	}
	return args, nil
}

func workingDir(image, user string) (string, error) {
	if user != "" {
		if !path.IsAbs(user) {
			return "", errdefs.InvalidArgument("the working directory %q is invalid: it needs to be an absolute path", user)
		}
		return path.Clean(user), nil
	}
	if image == "" {
		return "/", nil
	}
	// Builders store absolute paths; a relative one is taken from the root.
	return path.Join("/", image), nil
}

// environment merges as the Docker daemon does: PATH, HOSTNAME and TERM
// first, then the user's variables, then the image's the user did not set.
// A user entry without "=" unsets the variable. HOME comes from the user's
// passwd entry when nobody set it.
func environment(image, user []string, hostname string, tty bool, home string) ([]string, error) {
	type entry struct {
		key, kv string
		unset   bool
	}
	var list []entry
	index := map[string]int{}
	set := func(kv string) error {
		key, _, hasValue := strings.Cut(kv, "=")
		if key == "" || strings.IndexByte(kv, 0) >= 0 {
			return errdefs.InvalidArgument("invalid environment variable %q", kv)
		}
		if i, ok := index[key]; ok {
			list[i] = entry{key: key, kv: kv, unset: !hasValue}
			return nil
		}
		index[key] = len(list)
		list = append(list, entry{key: key, kv: kv, unset: !hasValue})
		return nil
	}
	_ = set("PATH=" + DefaultPath)
	_ = set("HOSTNAME=" + hostname)
	if tty {
		_ = set("TERM=xterm")
	}
	// The user's values win over the image's; both win over the defaults.
	userKeys := map[string]bool{}
	for _, kv := range user {
		if err := set(kv); err != nil {
			return nil, err
		}
		k, _, _ := strings.Cut(kv, "=")
		userKeys[k] = true
	}
	for _, kv := range image {
		k, _, _ := strings.Cut(kv, "=")
		if userKeys[k] {
			continue
		}
		if err := set(kv); err != nil {
			return nil, err
		}
	}
	if _, ok := index["HOME"]; !ok && home != "" {
		_ = set("HOME=" + home)
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		if !e.unset {
			out = append(out, e.kv)
		}
	}
	return out, nil
}

var rlimitNames = map[string]string{
	"as": "RLIMIT_AS", "core": "RLIMIT_CORE", "cpu": "RLIMIT_CPU", "data": "RLIMIT_DATA",
	"fsize": "RLIMIT_FSIZE", "locks": "RLIMIT_LOCKS", "memlock": "RLIMIT_MEMLOCK",
	"msgqueue": "RLIMIT_MSGQUEUE", "nice": "RLIMIT_NICE", "nofile": "RLIMIT_NOFILE",
	"nproc": "RLIMIT_NPROC", "rss": "RLIMIT_RSS", "rtprio": "RLIMIT_RTPRIO",
	"rttime": "RLIMIT_RTTIME", "sigpending": "RLIMIT_SIGPENDING", "stack": "RLIMIT_STACK",
}

// rlimits turns --ulimit values into rlimits; a later value for the same
// name replaces an earlier one.
func rlimits(in []Ulimit) ([]specs.POSIXRlimit, error) {
	var out []specs.POSIXRlimit
	index := map[string]int{}
	for _, u := range in {
		typ, ok := rlimitNames[strings.ToLower(u.Name)]
		if !ok {
			return nil, errdefs.InvalidArgument("invalid ulimit type: %q", u.Name)
		}
		soft, err := rlimitValue(u.Name, u.Soft)
		if err != nil {
			return nil, err
		}
		hard, err := rlimitValue(u.Name, u.Hard)
		if err != nil {
			return nil, err
		}
		if soft > hard {
			return nil, errdefs.InvalidArgument("ulimit %s: soft limit must be less than or equal to hard limit: %d > %d", u.Name, u.Soft, u.Hard)
		}
		r := specs.POSIXRlimit{Type: typ, Soft: soft, Hard: hard}
		if i, ok := index[typ]; ok {
			out[i] = r
			continue
		}
		index[typ] = len(out)
		out = append(out, r)
	}
	return out, nil
}

func rlimitValue(name string, v int64) (uint64, error) {
	switch {
	case v == -1:
		return math.MaxUint64, nil // RLIM_INFINITY
	case v < 0:
		return 0, errdefs.InvalidArgument("ulimit %s: invalid value %d (use -1 for unlimited)", name, v)
	}
	return uint64(v), nil
}
