package snapshot

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/testutil"
)

func lstat(t *testing.T, p string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestCopyTree(t *testing.T) {
	testutil.RequireRoot(t) // owners, devices and trusted xattrs
	src, dst := t.TempDir(), t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	p := func(name string) string { return filepath.Join(src, name) }
	must(os.MkdirAll(p("ro/sub"), 0o755))
	must(os.WriteFile(p("ro/sub/f"), []byte("inside a read-only dir"), 0o644))
	must(os.Chmod(p("ro"), 0o555))
	must(os.WriteFile(p("suid"), []byte("x"), 0o755))
	must(os.Chown(p("suid"), 1234, 5678))
	must(unix.Chmod(p("suid"), 0o4755)) // after chown, which clears setuid
	must(os.Mkdir(p("tmp"), 0o755))
	must(unix.Chmod(p("tmp"), 0o1777))
	must(os.WriteFile(p("big"), make([]byte, 300_000), 0o600))
	must(os.Link(p("big"), p("big-link")))
	must(os.Symlink("../dangling", p("link")))
	must(os.Lchown(p("link"), 42, 43))
	must(unix.Mknod(p("null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	must(unix.Mknod(p("fifo"), unix.S_IFIFO|0o600, 0))
	must(unix.Mknod(p("whiteout"), unix.S_IFCHR, int(unix.Mkdev(0, 0))))
	must(unix.Setxattr(p("big"), "user.note", []byte("hello"), 0))
	must(unix.Setxattr(p("tmp"), "trusted.overlay.opaque", []byte("y"), 0))
	old := time.Date(2001, 2, 3, 4, 5, 6, 7000, time.UTC)
	for _, name := range []string{"big", "ro/sub", "tmp"} {
		must(os.Chtimes(p(name), old, old))
	}
	must(unix.Lutimes(p("link"), []unix.Timeval{unix.NsecToTimeval(old.UnixNano()), unix.NsecToTimeval(old.UnixNano())}))

	if err := copyTree(context.Background(), src, dst); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ro", "ro/sub", "ro/sub/f", "suid", "tmp", "big", "link", "null", "fifo", "whiteout"} {
		t.Run(name, func(t *testing.T) {
			s, d := lstat(t, p(name)), lstat(t, filepath.Join(dst, name))
			if s.Mode != d.Mode || s.Uid != d.Uid || s.Gid != d.Gid || s.Rdev != d.Rdev || s.Size != d.Size {
				t.Errorf("copy mode %#o uid %d gid %d rdev %d size %d, source %#o %d %d %d %d",
					d.Mode, d.Uid, d.Gid, d.Rdev, d.Size, s.Mode, s.Uid, s.Gid, s.Rdev, s.Size)
			}
			if s.Mtim != d.Mtim {
				t.Errorf("mtime %v, source %v", d.Mtim, s.Mtim)
			}
		})
	}
	if a, b := lstat(t, filepath.Join(dst, "big")), lstat(t, filepath.Join(dst, "big-link")); a.Ino != b.Ino {
		t.Error("hard link became two files")
	}
	if target, err := os.Readlink(filepath.Join(dst, "link")); err != nil || target != "../dangling" {
		t.Errorf("symlink -> %q (%v)", target, err)
	}
	for _, x := range []struct{ path, name, want string }{
		{"big", "user.note", "hello"},
		{"tmp", "trusted.overlay.opaque", "y"},
	} {
		v, err := getXattr(filepath.Join(dst, x.path), x.name)
		if err != nil || string(v) != x.want {
			t.Errorf("%s %s = %q (%v), want %q", x.path, x.name, v, err, x.want)
		}
	}
	checkTree(t, dst, map[string]string{"ro/sub/f": "inside a read-only dir"})
}

func TestCopyTreeCancelled(t *testing.T) {
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := copyTree(ctx, src, t.TempDir()); !errors.Is(err, context.Canceled) {
		t.Errorf("copy with a cancelled context: %v", err)
	}
}
