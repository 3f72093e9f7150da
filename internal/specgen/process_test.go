package specgen

import (
	"math"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestCommand(t *testing.T) {
	img := Image{Entrypoint: []string{"/entry", "-x"}, Cmd: []string{"serve", "--port=80"}}
	for _, tc := range []struct {
		name string
		img  Image
		o    Options
		want []string
	}{
		{"image defaults", img, Options{}, []string{"/entry", "-x", "serve", "--port=80"}},
		{"cmd replaces image cmd", img, Options{Cmd: []string{"check"}}, []string{"/entry", "-x", "check"}},
		{"entrypoint drops image cmd", img, Options{Entrypoint: []string{"/bin/sh"}, EntrypointSet: true}, []string{"/bin/sh"}},
		{"entrypoint without the flag", img, Options{Entrypoint: []string{"/bin/sh"}}, []string{"/bin/sh"}},
		{"entrypoint and cmd", img, Options{Entrypoint: []string{"/bin/sh"}, EntrypointSet: true, Cmd: []string{"-c", "id"}}, []string{"/bin/sh", "-c", "id"}},
		{"empty entrypoint clears", img, Options{EntrypointSet: true, Cmd: []string{"ls"}}, []string{"ls"}},
		{"docker CLI's empty entrypoint", img, Options{Entrypoint: []string{""}, Cmd: []string{"ls", "/"}}, []string{"ls", "/"}},
		{"cmd only image", busybox, Options{}, []string{"sh"}},
		{"cmd only image, user cmd", busybox, Options{Cmd: []string{"echo", "hi"}}, []string{"echo", "hi"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := generate(t, tc.img, tc.o)
			if !slices.Equal(s.Process.Args, tc.want) {
				t.Errorf("args = %q, want %q", s.Process.Args, tc.want)
			}
		})
	}
}

func TestNoCommand(t *testing.T) {
	img := Image{Entrypoint: []string{"/entry"}, Cmd: []string{"x"}}
	for _, tc := range []struct {
		name string
		img  Image
		o    Options
	}{
		{"empty image", Image{}, Options{}},
		{"entrypoint cleared, no cmd", img, Options{EntrypointSet: true}},
		{"docker CLI's empty entrypoint, no cmd", img, Options{Entrypoint: []string{""}}},
		{"empty program", Image{Cmd: []string{""}}, Options{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := wantInvalid(t, tc.img, tc.o)
			if err.Error() != "no command specified" {
				t.Errorf("error = %q", err)
			}
		})
	}
}

func TestInit(t *testing.T) {
	s := generate(t, busybox, Options{Init: true, InitPath: "/usr/libexec/berth/berth-init", Cmd: []string{"sleep", "1"}})
	want := []string{InitDestination, "--", "sleep", "1"}
	if !slices.Equal(s.Process.Args, want) {
		t.Errorf("args = %q, want %q", s.Process.Args, want)
	}
	m, ok := findMount(s, InitDestination)
	if !ok {
		t.Fatal("no init mount")
	}
	if m.Source != "/usr/libexec/berth/berth-init" || m.Type != "bind" || !slices.Contains(m.Options, "ro") {
		t.Errorf("init mount = %+v", m)
	}
	wantInvalid(t, busybox, Options{Init: true})
	wantInvalid(t, busybox, Options{Init: true, InitPath: "relative/init"})
}

func TestEnvironment(t *testing.T) {
	for _, tc := range []struct {
		name string
		img  []string
		user []string
		tty  bool
		home string
		want []string
	}{
		{
			name: "defaults",
			want: []string{"PATH=" + DefaultPath, "HOSTNAME=h"},
		},
		{
			name: "tty",
			tty:  true,
			want: []string{"PATH=" + DefaultPath, "HOSTNAME=h", "TERM=xterm"},
		},
		{
			name: "image PATH replaces the default in place",
			img:  []string{"A=1", "PATH=/bin"},
			want: []string{"PATH=/bin", "HOSTNAME=h", "A=1"},
		},
		{
			name: "user wins by key, user first",
			img:  []string{"A=image", "B=image"},
			user: []string{"B=user", "C=user"},
			want: []string{"PATH=" + DefaultPath, "HOSTNAME=h", "B=user", "C=user", "A=image"},
		},
		{
			name: "user overrides HOSTNAME and TERM",
			user: []string{"TERM=vt100", "HOSTNAME=custom"},
			tty:  true,
			want: []string{"PATH=" + DefaultPath, "HOSTNAME=custom", "TERM=vt100"},
		},
		{
			name: "a bare name unsets",
			img:  []string{"A=1", "B=2"},
			user: []string{"A", "PATH"},
			want: []string{"HOSTNAME=h", "B=2"},
		},
		{
			name: "value with equals signs",
			user: []string{"Q=a=b=c", "EMPTY="},
			want: []string{"PATH=" + DefaultPath, "HOSTNAME=h", "Q=a=b=c", "EMPTY="},
		},
		{
			name: "HOME from passwd",
			home: "/root",
			want: []string{"PATH=" + DefaultPath, "HOSTNAME=h", "HOME=/root"},
		},
		{
			name: "HOME set by the image wins",
			img:  []string{"HOME=/srv"},
			home: "/root",
			want: []string{"PATH=" + DefaultPath, "HOSTNAME=h", "HOME=/srv"},
		},
		{
			name: "duplicates in the image: last wins",
			img:  []string{"A=1", "A=2"},
			want: []string{"PATH=" + DefaultPath, "HOSTNAME=h", "A=2"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := environment(tc.img, tc.user, "h", tc.tty, tc.home)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("env = %q\nwant  %q", got, tc.want)
			}
		})
	}
	for _, bad := range []string{"=x", "", "A\x00=1"} {
		if _, err := environment(nil, []string{bad}, "h", false, ""); err == nil {
			t.Errorf("env %q accepted", bad)
		}
	}
}

func TestEnvironmentInSpec(t *testing.T) {
	root := fakeRootfs(t, testPasswd, testGroup)
	s := generate(t, busybox, Options{Rootfs: root, Env: []string{"X=1"}, Tty: true, Hostname: "web"})
	want := []string{"PATH=/usr/local/bin:/bin", "HOSTNAME=web", "TERM=xterm", "X=1", "HOME=/root"}
	if !slices.Equal(s.Process.Env, want) {
		t.Errorf("env = %q, want %q", s.Process.Env, want)
	}
	if !s.Process.Terminal {
		t.Error("terminal not set with Tty")
	}
	// The default hostname is the short ID.
	s = generate(t, busybox, Options{})
	if s.Hostname != testID[:12] || !slices.Contains(s.Process.Env, "HOSTNAME="+testID[:12]) {
		t.Errorf("hostname %q, env %q", s.Hostname, s.Process.Env)
	}
	if s.Process.Terminal {
		t.Error("terminal set without Tty")
	}
}

func TestWorkingDir(t *testing.T) {
	for _, tc := range []struct {
		image, user, want string
	}{
		{"", "", "/"},
		{"/app", "", "/app"},
		{"/app", "/work/", "/work"},
		{"app", "", "/app"},
		{"/a/../b", "", "/b"},
	} {
		s := generate(t, Image{Cmd: []string{"x"}, WorkingDir: tc.image}, Options{WorkingDir: tc.user})
		if s.Process.Cwd != tc.want {
			t.Errorf("image %q user %q: cwd = %q, want %q", tc.image, tc.user, s.Process.Cwd, tc.want)
		}
	}
	err := wantInvalid(t, busybox, Options{WorkingDir: "relative"})
	if !strings.Contains(err.Error(), "absolute") {
		t.Errorf("error = %q", err)
	}
}

func TestUlimits(t *testing.T) {
	s := generate(t, busybox, Options{Ulimits: []Ulimit{
		{Name: "nofile", Soft: 1024, Hard: 4096},
		{Name: "core", Soft: -1, Hard: -1},
		{Name: "NPROC", Soft: 10, Hard: 20},
		{Name: "nofile", Soft: 2048, Hard: 2048},
	}})
	want := []specs.POSIXRlimit{
		{Type: "RLIMIT_NOFILE", Soft: 2048, Hard: 2048},
		{Type: "RLIMIT_CORE", Soft: math.MaxUint64, Hard: math.MaxUint64},
		{Type: "RLIMIT_NPROC", Soft: 10, Hard: 20},
	}
	if !slices.Equal(s.Process.Rlimits, want) {
		t.Errorf("rlimits = %+v, want %+v", s.Process.Rlimits, want)
	}
	if s := generate(t, busybox, Options{}); s.Process.Rlimits != nil {
		t.Errorf("default rlimits = %+v, want none", s.Process.Rlimits)
	}
	for _, bad := range []Ulimit{
		{Name: "nofiles", Soft: 1, Hard: 1},
		{Name: "nofile", Soft: 10, Hard: 5},
		{Name: "nofile", Soft: -2, Hard: 5},
		{Name: "nofile", Soft: 1, Hard: -5},
		{Name: "", Soft: 1, Hard: 1},
	} {
		wantInvalid(t, busybox, Options{Ulimits: []Ulimit{bad}})
	}
}

func TestOOMScoreAdjAndNoNewPrivileges(t *testing.T) {
	v := -500
	s := generate(t, busybox, Options{OOMScoreAdj: &v, SecurityOpt: []string{"no-new-privileges"}})
	if s.Process.OOMScoreAdj == nil || *s.Process.OOMScoreAdj != -500 {
		t.Errorf("oomScoreAdj = %v", s.Process.OOMScoreAdj)
	}
	if !s.Process.NoNewPrivileges {
		t.Error("noNewPrivileges not set")
	}
	for _, bad := range []int{-1001, 1001} {
		wantInvalid(t, busybox, Options{OOMScoreAdj: &bad})
	}
}
