package specgen

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const smallProfile = `{
	"defaultAction": "SCMP_ACT_ERRNO",
	"syscalls": [
		{"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
		{"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}}
	]
}`

func TestSecurityOpts(t *testing.T) {
	dir := t.TempDir()
	profilePath := filepath.Join(dir, "profile.json")
	if err := os.WriteFile(profilePath, []byte(smallProfile), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		opts       []string
		capAdd     []string
		nnp        bool
		seccomp    string // "default", "none", "small"
		paths      bool   // masked and read-only paths present
		mountAllow bool   // the profile allows mount
	}{
		{name: "defaults", seccomp: "default", paths: true},
		{name: "no-new-privileges", opts: []string{"no-new-privileges"}, nnp: true, seccomp: "default", paths: true},
		{name: "no-new-privileges:true", opts: []string{"no-new-privileges:true"}, nnp: true, seccomp: "default", paths: true},
		{name: "no-new-privileges=false", opts: []string{"no-new-privileges=false"}, seccomp: "default", paths: true},
		{name: "seccomp unconfined", opts: []string{"seccomp=unconfined"}, seccomp: "none", paths: true},
		{name: "old colon form", opts: []string{"seccomp:unconfined"}, seccomp: "none", paths: true},
		{name: "builtin", opts: []string{"seccomp=unconfined", "seccomp=builtin"}, seccomp: "default", paths: true},
		{name: "profile file", opts: []string{"seccomp=" + profilePath}, seccomp: "small", paths: true},
		{name: "profile file, SYS_ADMIN", opts: []string{"seccomp=" + profilePath}, capAdd: []string{"SYS_ADMIN"}, seccomp: "small", paths: true, mountAllow: true},
		{name: "inline profile as the docker CLI sends it", opts: []string{"seccomp=" + smallProfile}, seccomp: "small", paths: true},
		{name: "systempaths unconfined", opts: []string{"systempaths=unconfined"}, seccomp: "default"},
		{name: "label and apparmor are accepted", opts: []string{"label=disable", "label:type:svirt_t", "apparmor=unconfined"}, seccomp: "default", paths: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := generate(t, busybox, Options{SecurityOpt: tc.opts, CapAdd: tc.capAdd})
			if s.Process.NoNewPrivileges != tc.nnp {
				t.Errorf("noNewPrivileges = %v", s.Process.NoNewPrivileges)
			}
			sc := s.Linux.Seccomp
			switch tc.seccomp {
			case "none":
				if sc != nil {
					t.Errorf("seccomp set: %+v", sc.DefaultAction)
				}
			case "default":
				if sc == nil || !allowed(sc, "openat") || len(sc.Syscalls) < 10 {
					t.Errorf("not the default profile")
				}
			case "small":
				if sc == nil || !allowed(sc, "read") || allowed(sc, "openat") {
					t.Errorf("not the small profile: %+v", sc)
				} else if allowed(sc, "mount") != tc.mountAllow {
					t.Errorf("mount allowed = %v, want %v", allowed(sc, "mount"), tc.mountAllow)
				}
			}
			if got := len(s.Linux.MaskedPaths) > 0 && len(s.Linux.ReadonlyPaths) > 0; got != tc.paths {
				t.Errorf("masked %q read-only %q", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
			}
		})
	}
}

func TestSecurityOptErrors(t *testing.T) {
	for _, opt := range []string{
		"bogus",
		"no-new-privileges=maybe",
		"seccomp=",
		"seccomp=/does/not/exist.json",
		"seccomp={not json",
		`seccomp={"syscalls": []}`,
		"systempaths=confined",
		"writable-cgroups=perhaps",
		"label=",
		"unknown=1",
	} {
		t.Run(opt, func(t *testing.T) { wantInvalid(t, busybox, Options{SecurityOpt: []string{opt}}) })
	}
	// A directory is not a profile.
	wantInvalid(t, busybox, Options{SecurityOpt: []string{"seccomp=" + t.TempDir()}})
}

func TestMaskedAndReadonlyPaths(t *testing.T) {
	s := generate(t, busybox, Options{})
	for _, p := range []string{"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap"} {
		if !slices.Contains(s.Linux.MaskedPaths, p) {
			t.Errorf("%s not masked", p)
		}
	}
	for _, p := range []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"} {
		if !slices.Contains(s.Linux.ReadonlyPaths, p) {
			t.Errorf("%s not read-only", p)
		}
	}
	// Generated specs do not share the package's slices.
	s.Linux.MaskedPaths[0] = "changed"
	if s2 := generate(t, busybox, Options{}); s2.Linux.MaskedPaths[0] == "changed" {
		t.Error("masked paths are shared between specs")
	}
}

func TestPrivileged(t *testing.T) {
	s := generate(t, busybox, Options{Privileged: true, SecurityOpt: []string{"seccomp=" + smallProfile}})
	if s.Linux.Seccomp != nil {
		t.Error("privileged container has seccomp")
	}
	if len(s.Linux.MaskedPaths) != 0 || len(s.Linux.ReadonlyPaths) != 0 {
		t.Errorf("privileged: masked %q read-only %q", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
	}
	if !slices.Contains(s.Process.Capabilities.Bounding, "CAP_SYS_ADMIN") {
		t.Error("privileged lacks CAP_SYS_ADMIN")
	}
	if len(s.Linux.Devices) == 0 {
		t.Error("privileged gets no host devices")
	}
}

func TestGeneratedSpecShape(t *testing.T) {
	// Everything berth-oci checks on its side holds for a generated spec.
	s := generate(t, busybox, Options{Rootfs: t.TempDir(), Tty: true, Memory: 64 << 20})
	if s.Process.Cwd == "" || len(s.Process.Args) == 0 || s.Linux.Resources == nil {
		t.Fatalf("incomplete spec: %+v", s.Process)
	}
	for _, e := range s.Process.Env {
		if !strings.Contains(e, "=") {
			t.Errorf("env %q is not KEY=VALUE", e)
		}
	}
	if _, ok := hasNS(s, specs.MountNamespace); !ok {
		t.Error("no mount namespace")
	}
	if _, ok := hasNS(s, specs.UTSNamespace); !ok && s.Hostname != "" {
		t.Error("hostname without UTS namespace")
	}
}
