//go:build !berthinit

package oci

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/errdefs"
)

func TestValidateID(t *testing.T) {
	tests := []struct {
		id string
		ok bool
	}{
		{"abc", true},
		{"a_b-c.d+e", true},
		{"", false},
		{"../x", false},
		{"a/b", false},
		{".", false},
		{"..", false},
		{strings.Repeat("x", 1025), false},
		{"sp ace", false},
	}
	for _, tc := range tests {
		err := ValidateID(tc.id)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateID(%q) = %v", tc.id, err)
		}
		if err != nil && !errdefs.IsInvalidArgument(err) {
			t.Errorf("ValidateID(%q): class %v", tc.id, err)
		}
	}
}

func TestParseSignal(t *testing.T) {
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{"KILL", 9, true},
		{"SIGKILL", 9, true},
		{"term", 15, true},
		{"9", 9, true},
		{"SIGRTMIN+3", 37, true},
		{"RTMAX-1", 63, true},
		{"0", 0, false},
		{"65", 0, false},
		{"NOPE", 0, false},
		{"", 0, false},
	}
	for _, tc := range tests {
		got, err := ParseSignal(tc.in)
		if (err == nil) != tc.ok || (tc.ok && int(got) != tc.want) {
			t.Errorf("ParseSignal(%q) = %d, %v", tc.in, got, err)
		}
	}
}

func TestCheckVersion(t *testing.T) {
	for v, ok := range map[string]bool{
		"1.0.0": true, "1.0.2-dev": true, "1.1.0": true, "1.3.0": true, "1.3.7": true,
		"1.4.0": false, "2.0.0": false, "0.5.0": false, "": false, "1.0": false, "a.b.c": false,
	} {
		if err := checkVersion(v); (err == nil) != ok {
			t.Errorf("checkVersion(%q) = %v", v, err)
		}
	}
}

// bundleSpec is a minimal valid spec for a bundle dir with an empty rootfs.
func bundleSpec(t *testing.T) (*specs.Spec, string) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	return &specs.Spec{
		Version: "1.2.0",
		Root:    &specs.Root{Path: "rootfs"},
		Process: &specs.Process{Args: []string{"/bin/true"}, Cwd: "/"},
		Linux:   &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.MountNamespace}, {Type: specs.PIDNamespace}}},
	}, dir
}

func TestValidateSpecNamesField(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*specs.Spec)
		field string
	}{
		{"version", func(s *specs.Spec) { s.Version = "9.0.0" }, "ociVersion"},
		{"no root", func(s *specs.Spec) { s.Root = nil }, "root.path"},
		{"missing rootfs", func(s *specs.Spec) { s.Root.Path = "nope" }, "root.path"},
		{"no args", func(s *specs.Spec) { s.Process.Args = nil }, "process.args"},
		{"relative cwd", func(s *specs.Spec) { s.Process.Cwd = "tmp" }, "process.cwd"},
		{"bad env", func(s *specs.Spec) { s.Process.Env = []string{"NOEQUALS"} }, "process.env[0]"},
		{"bad cap", func(s *specs.Spec) {
			s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: []string{"CAP_FOO"}}
		}, "process.capabilities.bounding[0]"},
		{"bad rlimit", func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_FOO"}}
		}, "process.rlimits[0].type"},
		{"soft above hard", func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 10, Hard: 5}}
		}, "process.rlimits[0]"},
		{"mount escape", func(s *specs.Spec) {
			s.Mounts = []specs.Mount{{Destination: "../../etc", Type: "tmpfs"}}
		}, "mounts[0].destination"},
		{"mount no type", func(s *specs.Spec) { s.Mounts = []specs.Mount{{Destination: "/x"}} }, "mounts[0].type"},
		{"idmap mount", func(s *specs.Spec) {
			s.Mounts = []specs.Mount{{Destination: "/x", Type: "bind", Source: "/tmp", Options: []string{"rbind", "idmap"}}}
		}, "mounts[0]: idmapped"},
		{"hook relative", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: "hook"}}}
		}, "hooks.poststop[0].path"},
		{"ns type", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "bogus"})
		}, "linux.namespaces[2].type"},
		{"ns dup", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.PIDNamespace})
		}, "duplicate"},
		{"ns path", func(s *specs.Spec) {
			s.Linux.Namespaces[1].Path = "/proc/self/ns/nope"
		}, "linux.namespaces[1].path"},
		{"userns no maps", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		}, "uidMappings"},
		{"hostname no uts", func(s *specs.Spec) { s.Hostname = "x" }, "hostname"},
		{"host sysctl", func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"vm.swappiness": "1"} }, "vm.swappiness"},
		{"net sysctl without netns", func(s *specs.Spec) {
			s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
		}, "network namespace"},
		{"device type", func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x", Type: "z"}}
		}, "linux.devices[0].type"},
		{"propagation", func(s *specs.Spec) { s.Linux.RootfsPropagation = "weird" }, "linux.rootfsPropagation"},
		{"seccomp syscall", func(s *specs.Spec) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
				{Names: []string{"nosuchsyscall"}, Action: specs.ActErrno}}}
		}, "nosuchsyscall"},
		{"cpuset", func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "x-"}}
		}, "linux.resources.cpu"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, dir := bundleSpec(t)
			tc.edit(s)
			err := ValidateSpec(s, dir, true)
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("want an error naming %q, got %v", tc.field, err)
			}
			if !errdefs.IsInvalidArgument(err) && !errors.Is(err, errdefs.ErrNotImplemented) {
				t.Fatalf("error class: %v", err)
			}
		})
	}
	s, dir := bundleSpec(t)
	if err := ValidateSpec(s, dir, true); err != nil {
		t.Fatalf("valid spec rejected: %v", err)
	}
}

// FuzzValidateSpec feeds arbitrary config.json bytes through the parser and
// the validator: bad input must give an error, never a panic.
func FuzzValidateSpec(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.json")
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"ociVersion":"1.0.0","root":{"path":"rootfs"},"linux":{}}`))
	dir := f.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var s specs.Spec
		if json.Unmarshal(data, &s) != nil {
			return
		}
		_ = ValidateSpec(&s, dir, false)
		if s.Linux != nil && s.Linux.Namespaces != nil {
			_, _ = planNamespaces(s.Linux.Namespaces)
		}
	})
}

func FuzzParseSignal(f *testing.F) {
	for _, s := range []string{"KILL", "SIGRTMIN+1", "9", "RTMAX-64", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sig, err := ParseSignal(s)
		if err == nil && (sig <= 0 || sig > 64) {
			t.Fatalf("ParseSignal(%q) = %d", s, sig)
		}
	})
}

func FuzzValidateID(f *testing.F) {
	for _, s := range []string{"abc", "../x", "", "a/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if ValidateID(id) == nil && (strings.ContainsAny(id, "/\x00") || id == ".." || id == ".") {
			t.Fatalf("accepted %q", id)
		}
	})
}
