package specgen

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestUser(t *testing.T) {
	root := fakeRootfs(t, testPasswd, testGroup)
	for _, tc := range []struct {
		user     string
		groupAdd []string
		uid, gid uint32
		gids     []uint32
		home     string
	}{
		{"", nil, 0, 0, []uint32{0, 10}, "/root"},
		{"root", nil, 0, 0, []uint32{0, 10}, "/root"},
		{"0", nil, 0, 0, []uint32{0, 10}, "/root"},
		{"alice", nil, 1000, 1000, []uint32{1000, 10, 29}, "/home/alice"},
		{"1000", nil, 1000, 1000, []uint32{1000, 10, 29}, "/home/alice"},
		{"bob", nil, 1001, 100, []uint32{100, 29, 44}, "/home/bob"},
		// An explicit group replaces the memberships.
		{"alice:audio", nil, 1000, 29, []uint32{29}, "/home/alice"},
		{"alice:44", nil, 1000, 44, []uint32{44}, "/home/alice"},
		{"alice:5000", nil, 1000, 5000, []uint32{5000}, "/home/alice"},
		// "user:" is the user alone; ":group" is root with that group.
		{"alice:", nil, 1000, 1000, []uint32{1000, 10, 29}, "/home/alice"},
		{":video", nil, 0, 44, []uint32{44}, "/root"},
		// A number not in passwd runs with group 0 and home /.
		{"4242", nil, 4242, 0, []uint32{0}, "/"},
		{"4242:4242", nil, 4242, 4242, []uint32{4242}, "/"},
		// A passwd entry without home.
		{"nohome", nil, 1002, 1002, []uint32{1002}, "/"},
		// --group-add by name and number, deduplicated.
		{"alice", []string{"video", "1234", "wheel"}, 1000, 1000, []uint32{1000, 10, 29, 44, 1234}, "/home/alice"},
	} {
		t.Run(tc.user, func(t *testing.T) {
			s := generate(t, busybox, Options{Rootfs: root, User: tc.user, GroupAdd: tc.groupAdd})
			u := s.Process.User
			if u.UID != tc.uid || u.GID != tc.gid || !slices.Equal(u.AdditionalGids, tc.gids) {
				t.Errorf("user = %d:%d %v, want %d:%d %v", u.UID, u.GID, u.AdditionalGids, tc.uid, tc.gid, tc.gids)
			}
			if !slices.Contains(s.Process.Env, "HOME="+tc.home) {
				t.Errorf("env %q lacks HOME=%s", s.Process.Env, tc.home)
			}
		})
	}
}

func TestUserFromImage(t *testing.T) {
	root := fakeRootfs(t, testPasswd, testGroup)
	img := busybox
	img.User = "alice"
	s := generate(t, img, Options{Rootfs: root})
	if s.Process.User.UID != 1000 {
		t.Errorf("uid = %d, want the image's user", s.Process.User.UID)
	}
	s = generate(t, img, Options{Rootfs: root, User: "bob"})
	if s.Process.User.UID != 1001 {
		t.Errorf("uid = %d, want the user's -u", s.Process.User.UID)
	}
}

func TestUserErrors(t *testing.T) {
	root := fakeRootfs(t, testPasswd, testGroup)
	for _, tc := range []struct {
		user, want string
		groupAdd   []string
	}{
		{user: "xyz", want: "unable to find user xyz: no matching entries in passwd file"},
		{user: "alice:nogroup", want: "unable to find group nogroup: no matching entries in group file"},
		{user: "alice", groupAdd: []string{"nogroup"}, want: "unable to find group nogroup"},
		{user: "-1", want: "must be in range"},
		{user: "4294967296", want: "must be in range"},
		{user: "2147483648", want: "must be in range"},
		{user: "alice:-5", want: "must be in range"},
	} {
		t.Run(tc.user, func(t *testing.T) {
			err := wantInvalid(t, busybox, Options{Rootfs: root, User: tc.user, GroupAdd: tc.groupAdd})
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestUserWithoutFiles(t *testing.T) {
	// A scratch image: numbers work, names cannot.
	root := t.TempDir()
	s := generate(t, busybox, Options{Rootfs: root, User: "1000:1000"})
	if u := s.Process.User; u.UID != 1000 || u.GID != 1000 {
		t.Errorf("user = %+v", u)
	}
	s = generate(t, busybox, Options{Rootfs: root})
	if u := s.Process.User; u.UID != 0 || u.GID != 0 || !slices.Equal(u.AdditionalGids, []uint32{0}) {
		t.Errorf("user = %+v", u)
	}
	if !slices.Contains(s.Process.Env, "HOME=/") {
		t.Errorf("env = %q", s.Process.Env)
	}
	wantInvalid(t, busybox, Options{Rootfs: root, User: "root"})
	// No rootfs at all behaves the same.
	wantInvalid(t, busybox, Options{User: "nobody"})
}

func TestUserFilesStayInRootfs(t *testing.T) {
	// /etc/passwd is a symlink to an absolute path: it must resolve inside
	// the rootfs, never to the host's file.
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc", "real"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/real/passwd"), []byte("inside:x:77:77::/in:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/real/passwd", filepath.Join(root, "etc/passwd")); err != nil {
		t.Fatal(err)
	}
	s := generate(t, busybox, Options{Rootfs: root, User: "inside"})
	if s.Process.User.UID != 77 {
		t.Errorf("uid = %d", s.Process.User.UID)
	}
	// A symlink climbing out of the rootfs is confined to it: it names the
	// rootfs's own (missing) /etc/group, not the host's, whose "root:x:0:"
	// line would otherwise read as a passwd entry for root.
	root2 := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root2, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../../../../../../etc/group", filepath.Join(root2, "etc/passwd")); err != nil {
		t.Fatal(err)
	}
	wantInvalid(t, busybox, Options{Rootfs: root2, User: "root"})
	// A symlink loop is the image's fault, and says so.
	root3 := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root3, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(root3, "etc/passwd")); err != nil {
		t.Fatal(err)
	}
	wantInvalid(t, busybox, Options{Rootfs: root3, User: "root"})
}

func TestUserFileNotRegular(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc", "passwd"), 0o755); err != nil {
		t.Fatal(err)
	}
	wantInvalid(t, busybox, Options{Rootfs: root, User: "root"})
}

func TestParsePasswdAndGroup(t *testing.T) {
	p := parsePasswd([]byte(testPasswd + "\n+nis::::::\n:x:5:5::/:/bin/sh\nbad:x:notanumber:0::/:/bin/sh\n"))
	var names []string
	for _, e := range p {
		names = append(names, e.name)
	}
	if want := []string{"root", "daemon", "alice", "bob", "nohome"}; !slices.Equal(names, want) {
		t.Errorf("passwd names = %q, want %q", names, want)
	}
	g := parseGroup([]byte(testGroup + "empty:x:7:,, ,\n"))
	if last := g[len(g)-1]; last.name != "empty" || len(last.members) != 0 {
		t.Errorf("group with empty members = %+v", last)
	}
}
