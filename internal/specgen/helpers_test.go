package specgen

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/errdefs"
)

const testID = "0123456789abcdef0123456789abcdef"

// busybox is the image most tests start from.
var busybox = Image{
	Env: []string{"PATH=/usr/local/bin:/bin"},
	Cmd: []string{"sh"},
}

// fakeRootfs writes /etc/passwd and /etc/group into a temporary rootfs.
func fakeRootfs(t *testing.T, passwd, group string) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if passwd != "" {
		if err := os.WriteFile(filepath.Join(root, "etc/passwd"), []byte(passwd), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if group != "" {
		if err := os.WriteFile(filepath.Join(root, "etc/group"), []byte(group), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const testPasswd = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
# a comment
alice:x:1000:1000:Alice:/home/alice:/bin/sh
bob:x:1001:100::/home/bob:/bin/sh
broken line
nohome:x:1002:1002
`

const testGroup = `root:x:0:root
wheel:x:10:root,alice
users:x:100:
alice:x:1000:
audio:x:29:alice,bob
video:x:44:bob
`

// generate runs Generate with the test ID filled in.
func generate(t *testing.T, img Image, o Options) *specs.Spec {
	t.Helper()
	if o.ID == "" {
		o.ID = testID
	}
	s, err := Generate(img, o)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return s
}

// wantInvalid runs Generate and expects an InvalidArgument error.
func wantInvalid(t *testing.T, img Image, o Options) error {
	t.Helper()
	if o.ID == "" {
		o.ID = testID
	}
	_, err := Generate(img, o)
	if err == nil {
		t.Fatalf("Generate(%+v) succeeded, want an error", o)
	}
	if !errdefs.IsInvalidArgument(err) {
		t.Fatalf("error %q is not InvalidArgument", err)
	}
	return err
}

func findMount(s *specs.Spec, dst string) (specs.Mount, bool) {
	for _, m := range s.Mounts {
		if m.Destination == dst {
			return m, true
		}
	}
	return specs.Mount{}, false
}

func hasNS(s *specs.Spec, t specs.LinuxNamespaceType) (specs.LinuxNamespace, bool) {
	for _, n := range s.Linux.Namespaces {
		if n.Type == t {
			return n, true
		}
	}
	return specs.LinuxNamespace{}, false
}

// allowed reports whether a resolved profile allows name unconditionally.
func allowed(s *specs.LinuxSeccomp, name string) bool {
	for _, r := range s.Syscalls {
		if r.Action == specs.ActAllow && len(r.Args) == 0 && slices.Contains(r.Names, name) {
			return true
		}
	}
	return false
}

// mentioned reports whether any rule names the syscall.
func mentioned(s *specs.LinuxSeccomp, name string) bool {
	for _, r := range s.Syscalls {
		if slices.Contains(r.Names, name) {
			return true
		}
	}
	return false
}

// withCgroup2 pins cgroup detection for one test.
func withCgroup2(t *testing.T, v bool) {
	t.Helper()
	old := cgroup2Host
	cgroup2Host = func() bool { return v }
	t.Cleanup(func() { cgroup2Host = old })
}

// withKernel pins the kernel version for one test.
func withKernel(t *testing.T, k kver) {
	t.Helper()
	old := kernelVersion
	kernelVersion = func() kver { return k }
	t.Cleanup(func() { kernelVersion = old })
}
