package integration

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
)

func TestSeccompErrno(t *testing.T) {
	r := newRT(t)
	profile := func(errno *uint) func(*specs.Spec) {
		return func(s *specs.Spec) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{
				DefaultAction: specs.ActAllow,
				Syscalls: []specs.LinuxSyscall{{
					Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: errno,
				}},
			}
		}
	}
	const script = "mkdir /dev/shm/x && echo made; uname"
	tests := []struct {
		name string
		edit func(*specs.Spec)
		want string // in stderr; "" when mkdir must work
	}{
		{"no profile", nil, ""},
		{"errnoRet 1", profile(ptr[uint](1)), "Operation not permitted"},
		{"errnoRet unset is EPERM", profile(nil), "Operation not permitted"},
		{"errnoRet 95", profile(ptr[uint](95)), "not supported"},
	}
	for _, tc := range tests {
		res := r.runSh(tc.edit, script)
		// Other syscalls are allowed: uname still runs.
		if res.code != 0 || !strings.HasSuffix(res.stdout, "Linux\n") {
			t.Errorf("%s: %s", tc.name, res)
			continue
		}
		made := strings.Contains(res.stdout, "made\n")
		switch {
		case tc.want == "" && !made:
			t.Errorf("%s: mkdir failed: %s", tc.name, res)
		case tc.want != "" && (made || !strings.Contains(res.stderr, tc.want)):
			t.Errorf("%s: want mkdir to fail with %q: %s", tc.name, tc.want, res)
		}
	}
}

func TestSeccompKillProcess(t *testing.T) {
	r := newRT(t)
	kill := func(action specs.LinuxSeccompAction) func(*specs.Spec) {
		return func(s *specs.Spec) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{
				DefaultAction: specs.ActAllow,
				Syscalls:      []specs.LinuxSyscall{{Names: []string{"uname"}, Action: action}},
			}
		}
	}
	// uname is the container's process itself, so nothing runs it in-process:
	// run reports the signal as 128+SIGSYS.
	for _, action := range []specs.LinuxSeccompAction{specs.ActKillProcess, specs.ActKill} {
		b := bundle(t, kill(action), "uname")
		res := r.run("run", "--bundle", b, "k"+strings.ToLower(string(action)[9:]))
		if res.code != 128+31 || strings.Contains(res.stdout, "Linux") {
			t.Errorf("%s on uname: %s; want exit 159 (SIGSYS)", action, res)
		}
	}
	b := bundle(t, kill(specs.ActAllow), "uname")
	if res := r.run("run", "--bundle", b, "kallow"); res.code != 0 || res.stdout != "Linux\n" {
		t.Errorf("SCMP_ACT_ALLOW on uname: %s", res)
	}
}

func TestCapabilities(t *testing.T) {
	r := newRT(t)
	const script = "grep -E '^Cap(Eff|Prm|Bnd|Inh|Amb)' /proc/self/status; hostname renamed && echo renamed"
	tests := []struct {
		name    string
		edit    func(*specs.Spec)
		eff     string
		renamed bool
	}{
		// AUDIT_WRITE (29), KILL (5), NET_BIND_SERVICE (10).
		{"default", nil, "0000000020000420", false},
		{"empty", func(s *specs.Spec) { s.Process.Capabilities = &specs.LinuxCapabilities{} }, "0000000000000000", false},
		{"plus SYS_ADMIN", func(s *specs.Spec) {
			c := s.Process.Capabilities
			c.Bounding = append(c.Bounding, "CAP_SYS_ADMIN")
			c.Effective = append(c.Effective, "CAP_SYS_ADMIN")
			c.Permitted = append(c.Permitted, "CAP_SYS_ADMIN")
		}, "0000000020200420", true},
	}
	for _, tc := range tests {
		res := r.runSh(tc.edit, script)
		caps := map[string]string{}
		for _, line := range strings.Split(res.stdout, "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok {
				caps[k] = strings.TrimSpace(v)
			}
		}
		if caps["CapEff"] != tc.eff || caps["CapPrm"] != tc.eff || caps["CapBnd"] != tc.eff {
			t.Errorf("%s: want effective, permitted and bounding %s: %s", tc.name, tc.eff, res)
		}
		if caps["CapInh"] != "0000000000000000" || caps["CapAmb"] != "0000000000000000" {
			t.Errorf("%s: inheritable/ambient not empty: %s", tc.name, res)
		}
		if renamed := strings.Contains(res.stdout, "renamed\n"); renamed != tc.renamed {
			t.Errorf("%s: hostname change allowed=%v, want %v: %s", tc.name, renamed, tc.renamed, res)
		}
	}
}

func TestMaskedAndReadonlyPaths(t *testing.T) {
	r := newRT(t)
	spec := readSpec(t, bundle(t, nil, "true"))
	var script strings.Builder
	var files, dirs []string
	for _, p := range spec.Linux.MaskedPaths {
		fi, err := os.Stat(p)
		switch {
		case err != nil:
			continue // not on this kernel: nothing to mask
		case fi.IsDir():
			dirs = append(dirs, p)
			script.WriteString("echo " + p + " entries=$(ls -A " + p + " | wc -l)\n")
		default:
			files = append(files, p)
			script.WriteString("echo " + p + " bytes=$(cat " + p + " | wc -c)\n")
		}
	}
	if len(files) == 0 || len(dirs) == 0 {
		t.Fatalf("no masked file or directory exists on the host to check: %v", spec.Linux.MaskedPaths)
	}
	script.WriteString("echo x > /proc/sys/kernel/domainname || echo domainname-refused\n")
	script.WriteString("echo x > /proc/sysrq-trigger || echo sysrq-refused\n")
	out := r.mustSh(nil, script.String()+"true")
	for _, p := range files {
		if !strings.Contains(out, p+" bytes=0\n") {
			t.Errorf("masked file %s readable: %q", p, out)
		}
	}
	for _, p := range dirs {
		if !strings.Contains(out, p+" entries=0\n") {
			t.Errorf("masked directory %s listable: %q", p, out)
		}
	}
	res := r.runSh(nil, "echo x > /proc/sys/kernel/domainname")
	if res.code == 0 || !strings.Contains(res.stderr, "Read-only file system") {
		t.Errorf("write to readonly /proc/sys: %s", res)
	}
	if !strings.Contains(out, "sysrq-refused") {
		t.Errorf("write to readonly /proc/sysrq-trigger allowed: %q", out)
	}
}

func TestReadonlyRootfs(t *testing.T) {
	r := newRT(t)
	for _, ro := range []bool{true, false} {
		res := r.runSh(func(s *specs.Spec) { s.Root.Readonly = ro }, "touch /x && echo wrote")
		if ro && (res.code == 0 || !strings.Contains(res.stderr, "Read-only file system")) {
			t.Errorf("readonly root: %s", res)
		}
		if !ro && (res.code != 0 || res.stdout != "wrote\n") {
			t.Errorf("writable root: %s", res)
		}
	}
}

// runWithFiles runs berth-oci with extra open files from fd 3 on, which
// rt.run cannot pass.
func (r *rt) runWithFiles(files []*os.File, args ...string) result {
	r.t.Helper()
	cmd := exec.Command(ociBin, append([]string{"--root", r.root}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.ExtraFiles = files
	err := cmd.Run()
	res := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	default:
		r.t.Fatalf("berth-oci %v: %v", args, err)
	}
	return res
}

func TestFileDescriptors(t *testing.T) {
	r := newRT(t)
	// Only stdio and ls's own directory fd.
	if out := r.mustSh(nil, "ls /proc/self/fd"); strings.Join(strings.Fields(out), " ") != "0 1 2 3" {
		t.Errorf("fds in the container: %q, want 0 1 2 3", out)
	}
	extra := filepath.Join(t.TempDir(), "extra")
	if err := os.WriteFile(extra, []byte("hello-fd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(extra)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := bundle(t, nil, "sh", "-c", "cat <&3; echo fds $(ls /proc/self/fd)")
	// Not asked to, the runtime passes nothing beyond stdio.
	res := r.runWithFiles([]*os.File{f}, "run", "--bundle", b, "nofds")
	if strings.Contains(res.stdout, "hello-fd") || !strings.Contains(res.stdout, "fds 0 1 2 3\n") {
		t.Errorf("fd 3 of the caller leaked into the container: %s", res)
	}
	if _, err := f.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	res = r.runWithFiles([]*os.File{f}, "run", "--preserve-fds", "1", "--bundle", b, "fds")
	if res.code != 0 || !strings.HasPrefix(res.stdout, "hello-fd\n") || !strings.Contains(res.stdout, "fds 0 1 2 3 4\n") {
		t.Errorf("--preserve-fds 1: %s", res)
	}
}

func TestMountSymlinkEscape(t *testing.T) {
	r := newRT(t)
	hostDir, err := os.MkdirTemp("/tmp", "berth-escape")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(hostDir) })
	mountsBefore := hostMounts(t)
	b := bundle(t, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/escape", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m"}})
	}, "sh", "-c", "echo hi > /escape/marker && echo wrote; grep ' "+hostDir+" ' /proc/self/mountinfo")
	if err := os.Symlink(hostDir, filepath.Join(b, "rootfs/escape")); err != nil {
		t.Fatal(err)
	}
	res := r.run("run", "--bundle", b, "esc")
	// The symlink resolves inside the rootfs: the tmpfs is at rootfs/tmp/<name>.
	if res.code != 0 || !strings.Contains(res.stdout, "wrote\n") || !strings.Contains(res.stdout, " - tmpfs ") {
		t.Errorf("tmpfs not at the symlink's target in the container: %s", res)
	}
	if ents, _ := os.ReadDir(hostDir); len(ents) != 0 {
		t.Errorf("container wrote into the host's %s: %v", hostDir, ents)
	}
	b2, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(b2), " "+hostDir+" ") {
		t.Errorf("a mount appeared on the host at %s", hostDir)
	}
	after := hostMounts(t)
	for k, n := range after {
		if n > mountsBefore[k] {
			t.Errorf("host mount added: %s", k)
		}
	}
}

func TestNoNewPrivileges(t *testing.T) {
	r := newRT(t)
	for _, nnp := range []bool{true, false} {
		out := r.mustSh(func(s *specs.Spec) { s.Process.NoNewPrivileges = nnp }, "grep NoNewPrivs /proc/self/status")
		want := "0"
		if nnp {
			want = "1"
		}
		if f := strings.Fields(out); len(f) != 2 || f[1] != want {
			t.Errorf("noNewPrivileges=%v: %q", nnp, out)
		}
	}
}

func TestRlimits(t *testing.T) {
	r := newRT(t)
	nofile := func(soft, hard uint64) func(*specs.Spec) {
		return func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: soft, Hard: hard}}
		}
	}
	if out := r.mustSh(nofile(1000, 2000), "ulimit -n; ulimit -Hn"); out != "1000\n2000\n" {
		t.Errorf("RLIMIT_NOFILE 1000/2000: %q", out)
	}
	// Above the host's hard limit, without CAP_SYS_RESOURCE: a clear failure.
	b := bundle(t, nofile(2000000, 2000000), "true")
	cgPath := readSpec(t, b).Linux.CgroupsPath
	before := snapshotHost(t)
	res := r.run("create", "--bundle", b, "rl")
	if res.code == 0 || !strings.Contains(res.stderr, "RLIMIT_NOFILE") {
		t.Errorf("RLIMIT_NOFILE 2000000: %s", res)
	}
	r.assertNoLeftovers(before, cgPath)
	// Address-space and data limits too small for the init's own Go
	// runtime: set only at execve, so the init never runs out of memory
	// (it did, now and then, when they were set with the others).
	// A large environment makes execve's copies need fresh memory.
	small := func(s *specs.Spec) {
		s.Process.Rlimits = []specs.POSIXRlimit{
			{Type: "RLIMIT_AS", Soft: 48 << 20, Hard: 64 << 20}, {Type: "RLIMIT_DATA", Soft: 32 << 20, Hard: 32 << 20}}
		for i := range 8 {
			s.Process.Env = append(s.Process.Env, fmt.Sprintf("BIG%d=%s", i, strings.Repeat("x", 100<<10)))
		}
	}
	for i := range 10 {
		if out := r.mustSh(small, "ulimit -v; ulimit -Hv; ulimit -d; echo ${#BIG7}"); out != "49152\n65536\n32768\n102400\n" {
			t.Fatalf("run %d: RLIMIT_AS 48/64 MiB, RLIMIT_DATA 32 MiB: %q", i, out)
		}
	}
	res = r.runSh(func(s *specs.Spec) { s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_BOGUS", Soft: 1, Hard: 1}} }, "true")
	if res.code == 0 || !strings.Contains(res.stderr, "RLIMIT_BOGUS") {
		t.Errorf("unknown rlimit: %s", res)
	}
}

func TestProcessUser(t *testing.T) {
	r := newRT(t)
	res := r.runSh(func(s *specs.Spec) {
		s.Process.User = specs.User{UID: 65534, GID: 65534, AdditionalGids: []uint32{10}}
	}, "grep -E '^(Uid|Gid|Groups):' /proc/self/status; id")
	if res.code != 0 {
		t.Fatalf("process.user 65534: %s", res)
	}
	out := res.stdout
	fields := map[string][]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[k] = strings.Fields(v)
		}
	}
	all := []string{"65534", "65534", "65534", "65534"}
	if !slices.Equal(fields["Uid"], all) || !slices.Equal(fields["Gid"], all) || !slices.Equal(fields["Groups"], []string{"10"}) {
		t.Errorf("process.user 65534:65534 +[10]: %q", out)
	}
	if !strings.Contains(out, "uid=65534(nobody) gid=65534(nogroup)") {
		t.Errorf("id: %q", out)
	}
}
