package unpack

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/testutil"
	"github.com/berth-dev/berth/internal/unpack/compress"
)

// normalLayer exercises every entry type and attribute a layer carries.
func normalLayer(t testing.TB) []byte {
	nano := epoch.Add(123456789 * time.Nanosecond)
	return mkTar(t,
		dir("./"),
		dir("etc/"),
		file("etc/hostname", "box\n").with(func(h *tar.Header) { h.ModTime = nano; h.Format = tar.FormatPAX }),
		dir("bin/").with(xattr1("user.dir", "d")),
		file("bin/tool", "#!tool\n").with(func(h *tar.Header) { h.Mode = 0o4755 }).
			with(xattr1("user.comment", "hello")).with(xattr1("trusted.berth", "t")),
		file("bin/sgid", "sgid").with(func(h *tar.Header) { h.Mode = 0o2755; h.Gid = 50 }),
		symlink("bin/sh", "tool"),
		symlink("abs", "/etc/hostname").with(func(h *tar.Header) { h.Uid, h.Gid = 1000, 1001 }).
			with(xattr1("trusted.link", "l")).with(xattr1("user.skipped", "kernel refuses user.* on symlinks")),
		hardlink("bin/tool2", "bin/tool"),
		hardlink("bin/viaabs", "/bin/tool"),
		dir("home/user/").with(func(h *tar.Header) { h.Mode = 0o700; h.Uid, h.Gid = 1000, 1000 }),
		file("home/user/.profile", "PS1=$\n").with(func(h *tar.Header) { h.Mode = 0o600; h.Uid, h.Gid = 1000, 1000 }),
		dir("tmp/").with(func(h *tar.Header) { h.Mode = 0o1777 }),
		node(tar.TypeChar, "dev/null", 1, 3).with(func(h *tar.Header) { h.Mode = 0o666 }),
		node(tar.TypeBlock, "dev/loop0", 7, 0).with(func(h *tar.Header) { h.Mode = 0o660; h.Gid = 6 }),
		node(tar.TypeFifo, "run/fifo", 0, 0).with(func(h *tar.Header) { h.Mode = 0o620 }),
		file("implicit/parents/file", "made its parents"),
		file("empty", ""),
		dir("etc/"), // listed twice: the second updates the first
		file("etc/hostname", "box2\n"),
	)
}

func TestApplyNormalLayer(t *testing.T) {
	testutil.RequireRoot(t)
	root := t.TempDir()
	plain := normalLayer(t)
	res, err := jailApply(root, plain, "", Options{Whiteouts: WhiteoutOverlay})
	if err != nil {
		t.Fatal(err)
	}
	if want := digest.FromBytes(plain); res.DiffID != string(want) {
		t.Errorf("DiffID %s, want %s", res.DiffID, want)
	}
	if res.Size != int64(len(plain)) {
		t.Errorf("Size %d, want %d", res.Size, len(plain))
	}
	if res.Files != 19 {
		t.Errorf("Files %d, want 19", res.Files)
	}
	snap := mustSnapshot(t, root)
	mk := func(typ string, perm uint32, uid, gid uint32, content string) desc {
		return desc{Type: typ, Perm: perm, UID: uid, GID: gid, Content: content}
	}
	tests := []struct {
		path string
		want desc
	}{
		{"etc", mk("dir", 0o755, 0, 0, "")},
		{"etc/hostname", mk("reg", 0o644, 0, 0, "box2\n")},
		{"bin", mk("dir", 0o755, 0, 0, "")},
		{"bin/tool", mk("reg", 0o4755, 0, 0, "#!tool\n")},
		{"bin/tool2", mk("reg", 0o4755, 0, 0, "#!tool\n")},
		{"bin/viaabs", mk("reg", 0o4755, 0, 0, "#!tool\n")},
		{"bin/sgid", mk("reg", 0o2755, 0, 50, "sgid")},
		{"bin/sh", mk("lnk", 0o777, 0, 0, "tool")},
		{"abs", mk("lnk", 0o777, 1000, 1001, "/etc/hostname")},
		{"home/user", mk("dir", 0o700, 1000, 1000, "")},
		{"home/user/.profile", mk("reg", 0o600, 1000, 1000, "PS1=$\n")},
		{"tmp", mk("dir", 0o1777, 0, 0, "")},
		{"dev/null", mk("chr", 0o666, 0, 0, "")},
		{"dev/loop0", mk("blk", 0o660, 0, 6, "")},
		{"run/fifo", mk("fifo", 0o620, 0, 0, "")},
		{"implicit/parents", mk("dir", 0o755, 0, 0, "")},
		{"implicit/parents/file", mk("reg", 0o644, 0, 0, "made its parents")},
		{"empty", mk("reg", 0o644, 0, 0, "")},
	}
	for _, tc := range tests {
		got, ok := snap[tc.path]
		if !ok {
			t.Errorf("%s: missing", tc.path)
			continue
		}
		if got.Type != tc.want.Type || got.Perm != tc.want.Perm || got.UID != tc.want.UID ||
			got.GID != tc.want.GID || got.Content != tc.want.Content {
			t.Errorf("%s: got %v, want %v", tc.path, got, tc.want)
		}
	}
	if got := snap["dev/null"].Rdev; got != unix.Mkdev(1, 3) {
		t.Errorf("dev/null rdev %#x", got)
	}
	if got := snap["dev/loop0"].Rdev; got != unix.Mkdev(7, 0) {
		t.Errorf("dev/loop0 rdev %#x", got)
	}
	if snap["bin/tool"].Nlink != 3 {
		t.Errorf("bin/tool has %d links, want 3", snap["bin/tool"].Nlink)
	}
	if x := snap["bin/tool"].Xattrs; x["user.comment"] != "hello" || x["trusted.berth"] != "t" {
		t.Errorf("bin/tool xattrs %v", x)
	}
	if x := snap["bin"].Xattrs; x["user.dir"] != "d" {
		t.Errorf("bin xattrs %v", x)
	}
	if x := snap["abs"].Xattrs; x["trusted.link"] != "l" || len(x) != 1 {
		t.Errorf("abs xattrs %v", x)
	}
	// Times: files and symlinks exactly, sub-second PAX times included, and
	// directories despite the children written after them.
	for _, p := range []string{"etc", "bin", "tmp", "home/user", "bin/tool", "abs", "dev/null", "run/fifo"} {
		if got := snap[p].Mtime; got != epoch.UnixNano() {
			t.Errorf("%s mtime %v, want %v", p, time.Unix(0, got).UTC(), epoch)
		}
	}
	// etc/hostname's second entry has no sub-second time; check the first's in its own layer.
	root2 := t.TempDir()
	if _, err := jailApply(root2, mkTar(t, file("f", "x").with(func(h *tar.Header) {
		h.ModTime = epoch.Add(123456789 * time.Nanosecond)
		h.Format = tar.FormatPAX
	})), "", Options{}); err != nil {
		t.Fatal(err)
	}
	if got := mustSnapshot(t, root2)["f"].Mtime; got != epoch.UnixNano()+123456789 {
		t.Errorf("sub-second mtime lost: %v", time.Unix(0, got).UTC())
	}
}

// countingReader records how many bytes the caller's stream gave.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestApplyCompressionsAgree(t *testing.T) {
	testutil.RequireRoot(t)
	plain := normalLayer(t)
	// Extra zero blocks after the end of the archive belong to the diff_id.
	plain = append(plain, make([]byte, 4096)...)
	want := digest.FromBytes(plain)
	streams := map[string][]byte{"plain": plain, "gzip": gz(t, plain), "zstd": zst(t, plain)}
	var first map[string]desc
	for name, data := range streams {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			cr := &countingReader{r: bytes.NewReader(data)}
			var res Result
			var err error
			inJail(func() {
				res, err = Apply(context.Background(), root, cr, string(want), Options{Decompress: compress.Decompress})
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.DiffID != string(want) || res.Size != int64(len(plain)) {
				t.Errorf("got %s (%d bytes), want %s (%d bytes)", res.DiffID, res.Size, want, len(plain))
			}
			if cr.n != len(data) {
				t.Errorf("read %d of %d stream bytes", cr.n, len(data))
			}
			snap := mustSnapshot(t, root)
			if first == nil {
				first = snap
			} else if d := diffSnapshots(first, snap, fullDesc); len(d) > 0 {
				t.Errorf("trees differ:\n%s", strings.Join(d, "\n"))
			}
		})
	}
}

func TestApplyDiffIDMismatch(t *testing.T) {
	testutil.RequireRoot(t)
	plain := mkTar(t, file("a", "a"))
	wrong := digest.FromString("something else")
	for name, data := range map[string][]byte{"plain": plain, "gzip": gz(t, plain)} {
		t.Run(name, func(t *testing.T) {
			res, err := jailApply(t.TempDir(), data, wrong, Options{})
			if !errdefs.IsInvalidArgument(err) {
				t.Fatalf("err = %v, want invalid argument", err)
			}
			got := digest.FromBytes(plain)
			if !strings.Contains(err.Error(), got.String()) || !strings.Contains(err.Error(), wrong.String()) {
				t.Errorf("error %q does not name both digests", err)
			}
			if res.DiffID != string(got) {
				t.Errorf("result DiffID %s, want %s", res.DiffID, got)
			}
		})
	}
	if _, err := jailApply(t.TempDir(), plain, "sha256:nothex", Options{}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("malformed wantDiffID: err = %v", err)
	}
}

// TestApplyReplace covers an entry landing on a path that already exists.
func TestApplyReplace(t *testing.T) {
	testutil.RequireRoot(t)
	tests := []struct {
		name  string
		ents  []ent
		check func(t *testing.T, s map[string]desc)
	}{
		{"file over dir", []ent{file("x/inner", "i"), file("x", "file")}, func(t *testing.T, s map[string]desc) {
			if s["x"].Type != "reg" || s["x"].Content != "file" {
				t.Errorf("x = %v", s["x"])
			}
			if _, ok := s["x/inner"]; ok {
				t.Error("x/inner survived")
			}
		}},
		{"dir over dir keeps content, takes metadata", []ent{
			dir("d/"), file("d/keep", "k"),
			dir("d/").with(func(h *tar.Header) { h.Mode = 0o711; h.Uid = 7 }),
		}, func(t *testing.T, s map[string]desc) {
			if s["d"].Perm != 0o711 || s["d"].UID != 7 || s["d/keep"].Content != "k" {
				t.Errorf("d = %v, d/keep = %v", s["d"], s["d/keep"])
			}
		}},
		{"file over symlink", []ent{file("target", "t"), symlink("l", "target"), file("l", "new")}, func(t *testing.T, s map[string]desc) {
			if s["l"].Type != "reg" || s["target"].Content != "t" {
				t.Errorf("l = %v, target = %v", s["l"], s["target"])
			}
		}},
		{"symlink over file", []ent{file("l", "old"), symlink("l", "elsewhere")}, func(t *testing.T, s map[string]desc) {
			if s["l"].Type != "lnk" || s["l"].Content != "elsewhere" {
				t.Errorf("l = %v", s["l"])
			}
		}},
		{"dir over file", []ent{file("d", "old"), dir("d/"), file("d/x", "x")}, func(t *testing.T, s map[string]desc) {
			if s["d"].Type != "dir" || s["d/x"].Content != "x" {
				t.Errorf("d = %v", s["d"])
			}
		}},
		{"dir over symlink to dir", []ent{dir("real/"), file("real/r", "r"), symlink("d", "real"), dir("d/"), file("d/x", "x")}, func(t *testing.T, s map[string]desc) {
			if s["d"].Type != "dir" || s["d/x"].Content != "x" {
				t.Errorf("d = %v", s["d"])
			}
			if _, ok := s["real/x"]; ok {
				t.Error("written through the replaced symlink")
			}
		}},
		{"write through symlink to dir inside root", []ent{dir("usr/lib/"), symlink("lib", "usr/lib"), file("lib/libc.so", "c")}, func(t *testing.T, s map[string]desc) {
			if s["usr/lib/libc.so"].Content != "c" || s["lib"].Type != "lnk" {
				t.Errorf("usr/lib/libc.so = %v, lib = %v", s["usr/lib/libc.so"], s["lib"])
			}
		}},
		{"hardlink over existing file", []ent{file("a", "a"), file("b", "b"), hardlink("b", "a")}, func(t *testing.T, s map[string]desc) {
			if s["b"].Content != "a" || s["a"].Nlink != 2 {
				t.Errorf("b = %v", s["b"])
			}
		}},
		{"hardlink repeated", []ent{file("a", "a"), hardlink("b", "a"), hardlink("b", "a"), hardlink("a", "a")}, func(t *testing.T, s map[string]desc) {
			if s["b"].Content != "a" || s["a"].Nlink != 2 {
				t.Errorf("a = %v, b = %v", s["a"], s["b"])
			}
		}},
		{"absolute and dotted names", []ent{file("/abs", "1"), file("./dot", "2"), file("a/../b", "3"), file("//x//y", "4")}, func(t *testing.T, s map[string]desc) {
			if s["abs"].Content != "1" || s["dot"].Content != "2" || s["b"].Content != "3" || s["x/y"].Content != "4" {
				t.Errorf("snapshot %v", s)
			}
		}},
		{"aufs metadata skipped", []ent{dir(".wh..wh.plnk/"), file(".wh..wh.plnk/1.2", "x"), file(".wh..wh.aufs", "")}, func(t *testing.T, s map[string]desc) {
			if len(s) != 0 {
				t.Errorf("snapshot %v", s)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			if _, err := jailApply(root, mkTar(t, tc.ents...), "", Options{}); err != nil {
				t.Fatal(err)
			}
			tc.check(t, mustSnapshot(t, root))
		})
	}
}

// TestApplySparse uses GNU tar, the usual producer of sparse entries.
func TestApplySparse(t *testing.T) {
	testutil.RequireRoot(t)
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("no tar")
	}
	src := t.TempDir()
	f, err := os.Create(filepath.Join(src, "sparse"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("start"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("end"), 1<<30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, format := range []string{"gnu", "posix"} {
		t.Run(format, func(t *testing.T) {
			out, err := exec.Command("tar", "-C", src, "--sparse", "--format="+format, "-cf", "-", "sparse").Output()
			if err != nil {
				t.Skipf("tar cannot write sparse %s archives: %v", format, err)
			}
			if len(out) > 1<<20 {
				t.Fatalf("tar did not write a sparse entry (%d bytes)", len(out))
			}
			root := t.TempDir()
			if _, err := jailApply(root, out, "", Options{}); err != nil {
				t.Fatal(err)
			}
			var st unix.Stat_t
			if err := unix.Stat(filepath.Join(root, "sparse"), &st); err != nil {
				t.Fatal(err)
			}
			if st.Size != 1<<30+3 {
				t.Errorf("size %d", st.Size)
			}
			if st.Blocks*512 > 1<<20 {
				t.Errorf("holes were written: %d bytes allocated", st.Blocks*512)
			}
			g, _ := os.Open(filepath.Join(root, "sparse"))
			defer g.Close()
			buf := make([]byte, 5)
			g.ReadAt(buf, 0)
			end := make([]byte, 3)
			g.ReadAt(end, 1<<30)
			if string(buf) != "start" || string(end) != "end" {
				t.Errorf("content %q ... %q", buf, end)
			}
		})
	}
}

func TestCleanName(t *testing.T) {
	tests := []struct {
		in, want string
		err      error
	}{
		{"a/b", "a/b", nil},
		{"./a/b/", "a/b", nil},
		{"/etc/passwd", "etc/passwd", nil},
		{"//etc//passwd", "etc/passwd", nil},
		{"a/../b", "b", nil},
		{".", "", nil},
		{"/", "", nil},
		{"./", "", nil},
		{"a/..", "", nil},
		{"..", "", errEscape},
		{"../x", "", errEscape},
		{"a/../../x", "", errEscape},
		{"/../x", "", errEscape},
		{"a\x00b", "", errNUL},
		{strings.Repeat("a", 4097), "", errTooLong},
	}
	for _, tc := range tests {
		got, err := cleanName(tc.in)
		if got != tc.want || err != tc.err {
			t.Errorf("cleanName(%.20q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestApplyErrorsNameTheEntry(t *testing.T) {
	testutil.RequireRoot(t)
	_, err := jailApply(t.TempDir(), mkTar(t, file("a/../../etc", "x")), "", Options{})
	if !errdefs.IsInvalidArgument(err) || !strings.HasPrefix(err.Error(), `unpack: entry "a/../../etc": `) {
		t.Errorf("err = %v", err)
	}
}

func TestApplyCancel(t *testing.T) {
	testutil.RequireRoot(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Apply(ctx, t.TempDir(), bytes.NewReader(mkTar(t, file("a", "a"))), "", Options{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v", err)
	}
}

type failingReader struct{ err error }

func (f failingReader) Read([]byte) (int, error) { return 0, f.err }

func TestApplySourceErrorKeepsItsClass(t *testing.T) {
	testutil.RequireRoot(t)
	src := io.MultiReader(bytes.NewReader(mkTar(t, file("a", "a"))[:600]), failingReader{errdefs.Unavailable("registry went away")})
	_, err := Apply(context.Background(), t.TempDir(), src, "", Options{})
	if !errdefs.IsUnavailable(err) || errdefs.IsInvalidArgument(err) {
		t.Errorf("err = %v", err)
	}
}

// BenchmarkApply applies a layer of 5,000 small files in 50 directories.
func BenchmarkApply(b *testing.B) {
	testutil.RequireRoot(b)
	var ents []ent
	body := strings.Repeat("x", 1024)
	for d := 0; d < 50; d++ {
		ents = append(ents, dir(fmt.Sprintf("d%d/", d)))
		for f := 0; f < 100; f++ {
			ents = append(ents, file(fmt.Sprintf("d%d/f%d", d, f), body))
		}
	}
	layer := gz(b, mkTar(b, ents...))
	for _, mode := range []WhiteoutMode{WhiteoutOverlay, WhiteoutDelete} {
		b.Run(modeName(mode), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				root := b.TempDir()
				if _, err := Apply(context.Background(), root, bytes.NewReader(layer), "", Options{Whiteouts: mode}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
