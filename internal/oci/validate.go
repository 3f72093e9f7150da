//go:build !berthinit

package oci

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/linux/caps"
)

// Supported spec versions: 1.0.0 up to this minor of major 1.
const maxMinor = 3

var nsTypes = map[specs.LinuxNamespaceType]bool{
	specs.PIDNamespace: true, specs.NetworkNamespace: true, specs.MountNamespace: true,
	specs.IPCNamespace: true, specs.UTSNamespace: true, specs.UserNamespace: true,
	specs.CgroupNamespace: true, specs.TimeNamespace: true,
}

func invalid(format string, args ...any) error { return errdefs.InvalidArgument(format, args...) }

// checkVersion accepts 1.0.0 through 1.<maxMinor>.x, with pre-release tags.
func checkVersion(v string) error {
	core, _, _ := strings.Cut(v, "-")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return invalid("ociVersion: %q is not a version", v)
	}
	var n [3]int
	for i, p := range parts {
		x, err := strconv.Atoi(p)
		if err != nil || x < 0 {
			return invalid("ociVersion: %q is not a version", v)
		}
		n[i] = x
	}
	if n[0] != 1 || n[1] > maxMinor {
		return invalid("ociVersion: unsupported version %q (supported: 1.0.0 to 1.%d.x)", v, maxMinor)
	}
	return nil
}

// ValidateSpec checks everything that can be checked before anything is
// made, so that a bad bundle leaves nothing behind. Each error names the field.
func ValidateSpec(spec *specs.Spec, bundle string, needProcess bool) error {
	if err := checkVersion(spec.Version); err != nil {
		return err
	}
	if spec.Root == nil || spec.Root.Path == "" {
		return invalid("root.path: must be set")
	}
	rootfs := spec.Root.Path
	if !filepath.IsAbs(rootfs) {
		rootfs = filepath.Join(bundle, rootfs)
	}
	if fi, err := os.Stat(rootfs); err != nil {
		return invalid("root.path: rootfs %s: %v", rootfs, unwrapPathErr(err))
	} else if !fi.IsDir() {
		return invalid("root.path: rootfs %s is not a directory", rootfs)
	}
	if needProcess || spec.Process != nil {
		if err := validateProcess(spec.Process); err != nil {
			return err
		}
	}
	for i, m := range spec.Mounts {
		if err := validateMount(i, m); err != nil {
			return err
		}
	}
	if err := validateHooks(spec.Hooks); err != nil {
		return err
	}
	if spec.Linux == nil {
		return invalid("linux: must be set on Linux")
	}
	return validateLinux(spec)
}

func unwrapPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

func validateProcess(p *specs.Process) error {
	if p == nil {
		return invalid("process: must be set")
	}
	if len(p.Args) == 0 && p.CommandLine == "" {
		return invalid("process.args: must not be empty")
	}
	if p.Cwd == "" || !filepath.IsAbs(p.Cwd) {
		return invalid("process.cwd: %q must be an absolute path", p.Cwd)
	}
	for i, e := range p.Env {
		if !strings.Contains(e, "=") {
			return invalid("process.env[%d]: %q is not KEY=VALUE", i, e)
		}
	}
	if err := caps.Validate(p.Capabilities); err != nil {
		return err
	}
	seen := map[string]bool{}
	for i, r := range p.Rlimits {
		if _, ok := rlimitNames[r.Type]; !ok {
			return invalid("process.rlimits[%d].type: unknown rlimit %q", i, r.Type)
		}
		if seen[r.Type] {
			return invalid("process.rlimits[%d].type: duplicate %s", i, r.Type)
		}
		if r.Soft > r.Hard {
			return invalid("process.rlimits[%d]: soft limit %d above hard limit %d", i, r.Soft, r.Hard)
		}
		seen[r.Type] = true
	}
	if p.ConsoleSize != nil && !p.Terminal {
		// runc ignores it; so do we, but it is worth no error.
		_ = p.ConsoleSize
	}
	if p.OOMScoreAdj != nil && (*p.OOMScoreAdj < -1000 || *p.OOMScoreAdj > 1000) {
		return invalid("process.oomScoreAdj: %d outside -1000..1000", *p.OOMScoreAdj)
	}
	return nil
}

func validateMount(i int, m specs.Mount) error {
	if m.Destination == "" {
		return invalid("mounts[%d].destination: must be set", i)
	}
	for _, part := range strings.Split(m.Destination, "/") {
		if part == ".." {
			return invalid("mounts[%d].destination: %q points outside the rootfs", i, m.Destination)
		}
	}
	if m.Type == "" && !hasBind(m.Options) {
		return invalid("mounts[%d].type: must be set unless the mount is a bind mount", i)
	}
	if len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0 || hasOption(m.Options, "idmap", "ridmap") {
		// Refused rather than mounted without the mapping (features says so too).
		return errdefs.NotImplemented("mounts[%d]: idmapped mounts are not supported yet", i)
	}
	return nil
}

func hasBind(opts []string) bool { return hasOption(opts, "bind", "rbind") }

func hasOption(opts []string, names ...string) bool {
	for _, o := range opts {
		for _, n := range names {
			if o == n {
				return true
			}
		}
	}
	return false
}

func validateHooks(h *specs.Hooks) error {
	if h == nil {
		return nil
	}
	//nolint:staticcheck // Prestart is deprecated but still honoured.
	lists := map[string][]specs.Hook{
		"prestart": h.Prestart, "createRuntime": h.CreateRuntime, "createContainer": h.CreateContainer,
		"startContainer": h.StartContainer, "poststart": h.Poststart, "poststop": h.Poststop,
	}
	for name, list := range lists {
		for i, hk := range list {
			if !filepath.IsAbs(hk.Path) {
				return invalid("hooks.%s[%d].path: %q must be absolute", name, i, hk.Path)
			}
			if hk.Timeout != nil && *hk.Timeout <= 0 {
				return invalid("hooks.%s[%d].timeout: must be positive", name, i)
			}
		}
	}
	return nil
}

func validateLinux(spec *specs.Spec) error {
	l := spec.Linux
	seen := map[specs.LinuxNamespaceType]bool{}
	for i, ns := range l.Namespaces {
		if !nsTypes[ns.Type] {
			return invalid("linux.namespaces[%d].type: unknown namespace %q", i, ns.Type)
		}
		if seen[ns.Type] {
			return invalid("linux.namespaces[%d].type: duplicate %s namespace", i, ns.Type)
		}
		seen[ns.Type] = true
		if ns.Path != "" {
			if _, err := os.Stat(ns.Path); err != nil {
				return invalid("linux.namespaces[%d].path: %v", i, err)
			}
		}
	}
	if !seen[specs.MountNamespace] && (len(spec.Mounts) > 0 || len(l.MaskedPaths) > 0 || len(l.ReadonlyPaths) > 0 || spec.Root.Readonly) {
		// Without a mount namespace every mount would land on the host;
		// such a container only gets a chroot.
		slog.Warn("no mount namespace: mounts, masked and read-only paths are not applied")
	}
	userNew := false
	for _, ns := range l.Namespaces {
		if ns.Type == specs.UserNamespace && ns.Path == "" {
			userNew = true
		}
	}
	if userNew && (len(l.UIDMappings) == 0 || len(l.GIDMappings) == 0) {
		return invalid("linux.uidMappings/gidMappings: a new user namespace needs both")
	}
	if !seen[specs.UserNamespace] && (len(l.UIDMappings) > 0 || len(l.GIDMappings) > 0) {
		return invalid("linux.uidMappings: set without a user namespace")
	}
	if len(l.TimeOffsets) > 0 {
		if !seen[specs.TimeNamespace] {
			return invalid("linux.timeOffsets: set without a time namespace")
		}
		for clock := range l.TimeOffsets {
			if clock != "monotonic" && clock != "boottime" {
				return invalid("linux.timeOffsets: unknown clock %q (monotonic or boottime)", clock)
			}
		}
		for _, ns := range l.Namespaces {
			if ns.Type == specs.TimeNamespace && ns.Path != "" {
				return invalid("linux.timeOffsets: cannot be set when joining an existing time namespace")
			}
		}
	}
	if spec.Hostname != "" && !seen[specs.UTSNamespace] {
		return invalid("hostname: cannot be set without a UTS namespace")
	}
	if spec.Domainname != "" && !seen[specs.UTSNamespace] {
		return invalid("domainname: cannot be set without a UTS namespace")
	}
	for key := range l.Sysctl {
		if err := validateSysctl(key, seen); err != nil {
			return err
		}
	}
	for i, d := range l.Devices {
		switch d.Type {
		case "c", "b", "u", "p":
		default:
			return invalid("linux.devices[%d].type: %q is not c, b, u or p", i, d.Type)
		}
		if !filepath.IsAbs(d.Path) || strings.Contains(d.Path, "..") {
			return invalid("linux.devices[%d].path: %q must be an absolute path inside /dev", i, d.Path)
		}
	}
	switch l.RootfsPropagation {
	case "", "private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable", "runbindable":
	default:
		return invalid("linux.rootfsPropagation: unknown propagation %q", l.RootfsPropagation)
	}
	if l.IntelRdt != nil {
		if _, err := os.Stat("/sys/fs/resctrl/info"); err != nil {
			return errdefs.NotImplemented("linux.intelRdt: resctrl is not mounted on this host")
		}
	}
	return validateExtra(spec)
}

// validateSysctl refuses sysctls that would change the host: each needs the
// namespace that isolates it.
func validateSysctl(key string, ns map[specs.LinuxNamespaceType]bool) error {
	need := func(t specs.LinuxNamespaceType) error {
		if !ns[t] {
			return invalid("linux.sysctl: %q needs a %s namespace", key, t)
		}
		return nil
	}
	switch {
	case strings.HasPrefix(key, "net."):
		return need(specs.NetworkNamespace)
	case strings.HasPrefix(key, "fs.mqueue.") || key == "kernel.msgmax" || key == "kernel.msgmnb" ||
		key == "kernel.msgmni" || key == "kernel.sem" || key == "kernel.shmall" || key == "kernel.shmmax" ||
		key == "kernel.shmmni" || key == "kernel.shm_rmid_forced":
		return need(specs.IPCNamespace)
	case key == "kernel.hostname" || key == "kernel.domainname":
		return need(specs.UTSNamespace)
	}
	return invalid("linux.sysctl: %q is not namespaced and would change the host", key)
}

var _ = fmt.Sprint
