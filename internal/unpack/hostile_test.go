package unpack

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite the seed layers under testdata/")

// hostileEnv is what a hostile layer is aimed at: a sentinel directory next
// to the extraction root, holding "keep" and "sub/deep".
type hostileEnv struct {
	sentinel string // absolute path
}

// seedEnv aims the seed files on disk at a fixed path, so they are stable.
var seedEnv = hostileEnv{sentinel: "/var/lib/berth-unpack-sentinel"}

type outcome int

const (
	refused   outcome = iota // Apply fails with ErrInvalidArgument
	contained                // Apply succeeds; everything landed inside the root
)

func (o outcome) String() string { return [...]string{"refused", "contained"}[o] }

type hostileCase struct {
	name  string
	build func(t testing.TB, env hostileEnv) []byte
	want  outcome
	// check, for contained cases, looks at where things landed in the root.
	check func(t *testing.T, root string, s map[string]desc, env hostileEnv)
}

func layerOf(ents ...ent) func(testing.TB, hostileEnv) []byte {
	return func(t testing.TB, _ hostileEnv) []byte { return mkTar(t, ents...) }
}

// inRoot is where an absolute host path lands when contained.
func inRoot(abs string) string { return strings.TrimPrefix(abs, "/") }

func wantEntry(t *testing.T, s map[string]desc, p, typ, content string) {
	t.Helper()
	d, ok := s[p]
	if !ok {
		t.Errorf("%s: missing from the root", p)
		return
	}
	if d.Type != typ || (content != "" && d.Content != content) {
		t.Errorf("%s: %v, want %s %q", p, d, typ, content)
	}
}

// patchHeader overwrites bytes of the tar header block at off and fixes
// its checksum, to build headers archive/tar's writer refuses to write.
func patchHeader(b []byte, block int, off int, field []byte) {
	h := b[block*512 : block*512+512]
	copy(h[off:], field)
	copy(h[148:156], "        ")
	sum := 0
	for _, c := range h {
		sum += int(c)
	}
	copy(h[148:156], fmt.Sprintf("%06o\x00 ", sum))
}

// paxRecord formats one PAX record: "<length> <key>=<value>\n", where the
// length counts its own digits.
func paxRecord(key, value string) string {
	n := len(key) + len(value) + 3
	for {
		rec := fmt.Sprintf("%d %s=%s\n", n, key, value)
		if len(rec) == n {
			return rec
		}
		n = len(rec)
	}
}

func randomBody(n int) string {
	r := rand.New(rand.NewSource(1))
	b := make([]byte, n)
	r.Read(b)
	return string(b)
}

var hostileCases = []hostileCase{
	{
		name:  "dotdot-etc-passwd",
		build: layerOf(file("../../etc/passwd", "pwned::0:0::/:/bin/sh\n")),
		want:  refused,
	},
	{
		name:  "dotdot-sentinel",
		build: layerOf(file("../sentinel/pwned", "x")),
		want:  refused,
	},
	{
		name:  "dotdot-after-a-directory",
		build: layerOf(dir("a/"), file("a/../../sentinel/pwned", "x")),
		want:  refused,
	},
	{
		name:  "absolute-etc-passwd",
		build: layerOf(file("/etc/passwd", "pwned")),
		want:  contained,
		check: func(t *testing.T, _ string, s map[string]desc, _ hostileEnv) {
			wantEntry(t, s, "etc/passwd", "reg", "pwned")
		},
	},
	{
		name:  "absolute-sentinel",
		build: func(t testing.TB, env hostileEnv) []byte { return mkTar(t, file(env.sentinel+"/pwned", "x")) },
		want:  contained,
		check: func(t *testing.T, _ string, s map[string]desc, env hostileEnv) {
			wantEntry(t, s, inRoot(env.sentinel)+"/pwned", "reg", "x")
		},
	},
	{
		name:  "symlink-to-root-then-file-through-it",
		build: layerOf(symlink("evil", "/"), file("evil/etc/passwd", "pwned")),
		want:  contained,
		check: func(t *testing.T, _ string, s map[string]desc, _ hostileEnv) {
			wantEntry(t, s, "evil", "lnk", "/")
			wantEntry(t, s, "etc/passwd", "reg", "pwned")
		},
	},
	{
		name: "symlink-to-sentinel-then-file-through-it",
		build: func(t testing.TB, env hostileEnv) []byte {
			return mkTar(t, symlink("evil", env.sentinel), file("evil/pwned", "x"))
		},
		// Inside the root the link dangles (<root><sentinel> is not there),
		// and no directory is made through a symlink.
		want: refused,
	},
	{
		name: "symlink-to-dir-in-root-then-file-through-it",
		build: func(t testing.TB, env hostileEnv) []byte {
			return mkTar(t, dir("etc/"), symlink("evil", "/etc"), file("evil/pwned", "x"))
		},
		want: contained,
		check: func(t *testing.T, _ string, s map[string]desc, _ hostileEnv) {
			wantEntry(t, s, "evil", "lnk", "/etc")
			wantEntry(t, s, "etc/pwned", "reg", "x")
		},
	},
	{
		name:  "symlink-dotdot-then-file-through-it",
		build: layerOf(symlink("evil", "../../../../../../.."), file("evil/etc/pwned", "x")),
		want:  contained,
		check: func(t *testing.T, _ string, s map[string]desc, _ hostileEnv) {
			wantEntry(t, s, "etc/pwned", "reg", "x")
		},
	},
	{
		name:  "symlink-relative-sentinel-then-file-through-it",
		build: layerOf(symlink("evil", "../sentinel"), file("evil/keep", "x")),
		want:  refused, // dangles inside the root: <root>/sentinel is not there
	},
	{
		name:  "symlink-relative-sentinel-existing-in-root",
		build: layerOf(dir("sentinel/"), symlink("evil", "../sentinel"), file("evil/keep", "x")),
		want:  contained,
		check: func(t *testing.T, _ string, s map[string]desc, _ hostileEnv) {
			wantEntry(t, s, "sentinel/keep", "reg", "x")
		},
	},
	{
		name:  "symlink-chain-then-file-through-it",
		build: layerOf(symlink("a", "b"), symlink("b", "c/../../.."), dir("c/"), file("a/etc/pwned", "x")),
		want:  contained,
		check: func(t *testing.T, _ string, s map[string]desc, _ hostileEnv) {
			wantEntry(t, s, "etc/pwned", "reg", "x")
		},
	},
	{
		name: "symlink-to-dir-then-hardlink-target-through-it",
		build: func(t testing.TB, env hostileEnv) []byte {
			return mkTar(t, symlink("d", env.sentinel), hardlink("stolen", "d/keep"))
		},
		want: refused, // d/keep resolves to <root><sentinel>/keep, which is not there
	},
	{
		name: "symlink-to-outside-dir-then-hardlink-name-through-it",
		build: func(t testing.TB, env hostileEnv) []byte {
			return mkTar(t, file("f", "layer file"), symlink("d", env.sentinel), hardlink("d/linked", "f"))
		},
		want: refused, // d dangles inside the root
	},
	{
		name:  "symlink-to-dir-then-hardlink-name-through-it",
		build: layerOf(file("f", "layer file"), dir("etc/"), symlink("d", "/etc"), hardlink("d/linked", "f")),
		want:  contained,
		check: func(t *testing.T, _ string, s map[string]desc, env hostileEnv) {
			wantEntry(t, s, "etc/linked", "reg", "layer file")
			if s["f"].Nlink != 2 {
				t.Errorf("f has %d links", s["f"].Nlink)
			}
		},
	},
	{
		name:  "hardlink-to-absolute-etc-shadow",
		build: layerOf(hardlink("shadow", "/etc/shadow")),
		want:  refused, // the root has no etc/shadow
	},
	{
		name:  "hardlink-to-absolute-etc-shadow-of-the-layer",
		build: layerOf(file("etc/shadow", "layer"), hardlink("s", "/etc/shadow")),
		want:  contained,
		check: func(t *testing.T, _ string, s map[string]desc, _ hostileEnv) {
			wantEntry(t, s, "s", "reg", "layer")
			if s["s"].Nlink != 2 {
				t.Errorf("s has %d links", s["s"].Nlink)
			}
		},
	},
	{
		name:  "hardlink-dotdot-outside",
		build: layerOf(hardlink("x", "../sentinel/keep")),
		want:  refused,
	},
	{
		name: "hardlink-to-escaping-symlink",
		build: func(t testing.TB, env hostileEnv) []byte {
			return mkTar(t, symlink("s", env.sentinel+"/keep"), hardlink("h", "s"), hardlink("h2", "s"), file("h2", "overwritten"))
		},
		// The link is to the symlink itself; writing "h2" replaces the name.
		want: contained,
		check: func(t *testing.T, _ string, s map[string]desc, env hostileEnv) {
			wantEntry(t, s, "h", "lnk", env.sentinel+"/keep")
			wantEntry(t, s, "h2", "reg", "overwritten")
		},
	},
	{
		name:  "whiteout-dotdot",
		build: layerOf(dir("a/"), file("a/.wh...", "")),
		want:  refused,
	},
	{
		name:  "whiteout-dotdot-as-directory",
		build: layerOf(file(".wh.../sentinel", "")),
		want:  refused,
	},
	{
		name:  "whiteout-dot",
		build: layerOf(file(".wh..", "")),
		want:  refused,
	},
	{
		name:  "whiteout-of-the-parent-of-root",
		build: layerOf(file("../.wh.sentinel", "")),
		want:  refused,
	},
	{
		name: "whiteout-through-symlink",
		build: func(t testing.TB, env hostileEnv) []byte {
			return mkTar(t, symlink("evil", env.sentinel), file("evil/.wh.keep", ""))
		},
		want: refused,
	},
	{
		name:  "whiteout-through-relative-symlink",
		build: layerOf(symlink("evil", "../sentinel"), file("evil/.wh.keep", "")),
		want:  refused,
	},
	{
		name: "opaque-under-symlinked-dir",
		build: func(t testing.TB, env hostileEnv) []byte {
			return mkTar(t, symlink("evil", env.sentinel), file("evil/.wh..wh..opq", ""))
		},
		want: refused,
	},
	{
		name:  "opaque-under-symlink-to-root",
		build: layerOf(file("keep", "k"), symlink("evil", "/"), file("evil/.wh..wh..opq", "")),
		want:  refused,
	},
	{
		name: "dir-replaces-symlink-then-write-into-it",
		build: func(t testing.TB, env hostileEnv) []byte {
			return mkTar(t, symlink("evil", env.sentinel), dir("evil/"), file("evil/pwned", "x"))
		},
		want: contained,
		check: func(t *testing.T, _ string, s map[string]desc, _ hostileEnv) {
			wantEntry(t, s, "evil", "dir", "")
			wantEntry(t, s, "evil/pwned", "reg", "x")
		},
	},
	{
		name: "file-replaces-symlink-to-outside-file",
		build: func(t testing.TB, env hostileEnv) []byte {
			return mkTar(t, symlink("evil", env.sentinel+"/keep"), file("evil", "pwned"))
		},
		want: contained,
		check: func(t *testing.T, _ string, s map[string]desc, _ hostileEnv) {
			wantEntry(t, s, "evil", "reg", "pwned")
		},
	},
	{
		name:  "device-nodes",
		build: layerOf(node(tar.TypeChar, "dev/mem", 1, 1), node(tar.TypeBlock, "dev/sda", 8, 0), node(tar.TypeFifo, "dev/fifo", 0, 0)),
		want:  contained,
		check: func(t *testing.T, _ string, s map[string]desc, _ hostileEnv) {
			wantEntry(t, s, "dev/mem", "chr", "")
			wantEntry(t, s, "dev/sda", "blk", "")
			wantEntry(t, s, "dev/fifo", "fifo", "")
		},
	},
	{
		name: "pax-header-10MiB",
		build: func(t testing.TB, _ hostileEnv) []byte {
			// archive/tar will not write it: write the record as a
			// file's body and turn that file into a PAX header.
			value := strings.Repeat("x", 10<<20)
			rec := paxRecord("comment", value)
			b := mkTar(t, file("PaxHeaders/a", rec), file("a", "a"))
			patchHeader(b, 0, 156, []byte{tar.TypeXHeader})
			return gz(t, b)
		},
		want: refused,
	},
	{
		name: "name-64KiB",
		build: func(t testing.TB, _ hostileEnv) []byte {
			return gz(t, mkTar(t, file(strings.Repeat("d/", 32<<10)+"f", "x")))
		},
		want: refused,
	},
	{
		name: "linkname-64KiB",
		build: func(t testing.TB, _ hostileEnv) []byte {
			return gz(t, mkTar(t, symlink("l", strings.Repeat("../", 22000))))
		},
		want: refused,
	},
	{
		name:  "xattr-trusted-overlay-opaque",
		build: layerOf(dir("d/").with(xattr1("trusted.overlay.opaque", "y"))),
		want:  refused,
	},
	{
		name:  "xattr-trusted-overlay-redirect",
		build: layerOf(dir("d/").with(xattr1("trusted.overlay.redirect", "/etc"))),
		want:  refused,
	},
	{
		name:  "xattr-user-overlay-opaque",
		build: layerOf(file("f", "").with(xattr1("user.overlay.opaque", "y"))),
		want:  refused,
	},
	{
		name: "xattr-libarchive-trusted-overlay",
		build: layerOf(dir("d/").with(func(h *tar.Header) {
			h.PAXRecords = map[string]string{"LIBARCHIVE.xattr.trusted.overlay.opaque": "eQ=="}
		})),
		want: refused,
	},
	{
		name: "unknown-typeflag",
		build: func(t testing.TB, _ hostileEnv) []byte {
			b := mkTar(t, file("weird", "data"))
			patchHeader(b, 0, 156, []byte{'Z'})
			return b
		},
		want: refused,
	},
	{
		name: "negative-size",
		build: func(t testing.TB, _ hostileEnv) []byte {
			b := mkTar(t, file("neg", ""))
			patchHeader(b, 0, 124, bytes.Repeat([]byte{0xff}, 12)) // base-256 -1
			return b
		},
		want: refused,
	},
	{
		name: "truncated-tar",
		build: func(t testing.TB, _ hostileEnv) []byte {
			b := mkTar(t, file("big", randomBody(8<<10)))
			return b[:512+4000]
		},
		want: refused,
	},
	{
		name: "truncated-gzip",
		build: func(t testing.TB, _ hostileEnv) []byte {
			b := gz(t, mkTar(t, file("big", randomBody(8<<10))))
			return b[:len(b)/2]
		},
		want: refused,
	},
	{
		name: "truncated-zstd",
		build: func(t testing.TB, _ hostileEnv) []byte {
			b := zst(t, mkTar(t, file("big", randomBody(8<<10))))
			return b[:len(b)/2]
		},
		want: refused,
	},
	{
		name: "garbage-after-gzip-header",
		build: func(t testing.TB, _ hostileEnv) []byte {
			return append([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}, bytes.Repeat([]byte{0xee}, 100)...)
		},
		want: refused,
	},
	{
		name:  "file-named-root",
		build: layerOf(file("./", "x").with(func(h *tar.Header) { h.Name = "." })),
		want:  refused,
	},
	{
		name:  "hardlink-to-root",
		build: layerOf(hardlink("x", "/")),
		want:  refused,
	},
	{
		name:  "hardlink-through-dotdot-symlink-to-host-file",
		build: layerOf(symlink("up", "../../../../"), hardlink("x", "up/etc/passwd")),
		want:  refused, // up/etc/passwd is <root>/etc/passwd, not in the layer
	},
	{
		name:  "nul-in-pax-path",
		build: layerOf(file("a", "x").with(func(h *tar.Header) { h.PAXRecords = map[string]string{"path": "a\x00/../../etc/passwd"} })),
		want:  contained, // archive/tar ends the name at the NUL
		check: func(t *testing.T, _ string, s map[string]desc, _ hostileEnv) {
			wantEntry(t, s, "a", "reg", "x")
		},
	},
	{
		name:  "owner-minus-one",
		build: layerOf(file("f", "x").with(func(h *tar.Header) { h.Uid = -1; h.Format = tar.FormatGNU })),
		want:  refused,
	},
	{
		name:  "directory-component-with-whiteout-prefix",
		build: layerOf(file(".wh.x/y", "")),
		want:  refused,
	},
}

func TestHostileCorpusSize(t *testing.T) {
	if len(hostileCases) < 15 {
		t.Fatalf("only %d hostile layers", len(hostileCases))
	}
}

// hostileRunIn applies layer in a fresh root, base/root, next to a
// sentinel directory, base/sentinel, and checks that nothing outside the
// root changed.
func hostileRunIn(t *testing.T, base string, layer []byte, mode WhiteoutMode) (string, error) {
	t.Helper()
	return hostileRunWith(t, base, func(root string) error {
		_, err := jailApply(root, layer, "", Options{Whiteouts: mode})
		return err
	})
}

func hostileRunWith(t *testing.T, base string, apply func(root string) error) (string, error) {
	t.Helper()
	root := filepath.Join(base, "root")
	sentinel := filepath.Join(base, "sentinel")
	for _, d := range []string{root, sentinel, filepath.Join(sentinel, "sub")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(sentinel, "keep"), []byte("keep"), 0o644)
	os.WriteFile(filepath.Join(sentinel, "sub", "deep"), []byte("deep"), 0o644)
	before := fingerprint(t, sentinel)
	passwd, shadow := fileHash(t, "/etc/passwd"), fileHash(t, "/etc/shadow")

	err := apply(root)

	if fingerprint(t, sentinel) != before {
		t.Errorf("ESCAPE: the sentinel directory changed: %v", mustSnapshot(t, sentinel))
	}
	ents, _ := os.ReadDir(base)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"root", "sentinel"}) {
		t.Errorf("ESCAPE: next to the root: %v", names)
	}
	if fileHash(t, "/etc/passwd") != passwd || fileHash(t, "/etc/shadow") != shadow {
		t.Errorf("ESCAPE: the host's /etc/passwd or /etc/shadow changed")
	}
	checkJailEtc(t)
	return root, err
}

func checkOutcome(t *testing.T, tc hostileCase, env hostileEnv, root string, err error) {
	t.Helper()
	switch tc.want {
	case refused:
		if err == nil {
			t.Fatalf("applied; want an error. root: %v", mustSnapshot(t, root))
		}
		if !errdefs.IsInvalidArgument(err) {
			t.Errorf("err = %v; want class invalid argument", err)
		}
		if !strings.HasPrefix(err.Error(), "unpack: ") || len(err.Error()) > 1024 {
			t.Errorf("unclear error (%d bytes): %.300s", len(err.Error()), err)
		}
		t.Logf("refused: %v", err)
	case contained:
		if err != nil {
			t.Fatalf("want contained, got %v", err)
		}
		if tc.check != nil {
			tc.check(t, root, mustSnapshot(t, root), env)
		}
	}
}

func TestHostileLayers(t *testing.T) {
	testutil.RequireRoot(t)
	if _, err := getJail(); err != nil {
		// The checks below still catch an escape; the jail only limits
		// the damage one could do to this machine while they run.
		t.Logf("no mount namespace jail (%v): hostile layers run unconfined", err)
	}
	for _, tc := range hostileCases {
		for _, mode := range []WhiteoutMode{WhiteoutOverlay, WhiteoutDelete} {
			t.Run(fmt.Sprintf("%s/%s", tc.name, modeName(mode)), func(t *testing.T) {
				// The layer is aimed at this run's own sentinel.
				base := t.TempDir()
				env := hostileEnv{sentinel: filepath.Join(base, "sentinel")}
				root, err := hostileRunIn(t, base, tc.build(t, env), mode)
				checkOutcome(t, tc, env, root, err)
			})
		}
	}
}

func modeName(m WhiteoutMode) string {
	if m == WhiteoutDelete {
		return "delete"
	}
	return "overlay"
}

// TestHostileSeeds keeps testdata/hostile and the fuzz corpus in step with
// the table (go test -run TestHostileSeeds -update rewrites them) and
// applies the files on disk.
func TestHostileSeeds(t *testing.T) {
	for _, tc := range hostileCases {
		t.Run(tc.name, func(t *testing.T) {
			layer := tc.build(t, seedEnv)
			p := filepath.Join("testdata", "hostile", tc.name+".layer")
			fz := filepath.Join("testdata", "fuzz", "FuzzApply", "hostile-"+tc.name)
			if *update {
				writeSeed(t, p, layer)
				writeSeed(t, fz, fuzzSeed(layer, false))
			}
			disk, err := os.ReadFile(p)
			if err != nil {
				t.Fatalf("%v (run go test -run TestHostileSeeds -update)", err)
			}
			if !bytes.Equal(disk, layer) {
				t.Fatalf("%s is stale (run go test -run TestHostileSeeds -update)", p)
			}
			if got, err := os.ReadFile(fz); err != nil || !bytes.Equal(got, fuzzSeed(layer, false)) {
				t.Fatalf("%s is missing or stale (run go test -run TestHostileSeeds -update)", fz)
			}
			if os.Geteuid() != 0 {
				return
			}
			root, err := hostileRunIn(t, t.TempDir(), disk, WhiteoutOverlay)
			checkOutcome(t, tc, seedEnv, root, err)
		})
	}
	if *update {
		for name, seed := range normalSeeds(t) {
			writeSeed(t, filepath.Join("testdata", "fuzz", "FuzzApply", name), seed)
		}
	}
}

func writeSeed(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// fuzzSeed writes a corpus file in the format go test reads.
func fuzzSeed(layer []byte, overlay bool) []byte {
	return []byte(fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nbool(%v)\n", layer, overlay))
}

// normalSeeds are well-formed layers for the fuzzer to mutate.
func normalSeeds(t testing.TB) map[string][]byte {
	whiteouts := whiteoutScenarios[5].layers[1]
	return map[string][]byte{
		"normal-plain":     fuzzSeed(normalLayer(t), false),
		"normal-gzip":      fuzzSeed(gz(t, normalLayer(t)), true),
		"normal-zstd":      fuzzSeed(zst(t, mkTar(t, file("a", "a"), symlink("l", "a"), hardlink("h", "a"))), false),
		"whiteouts-delete": fuzzSeed(mkTar(t, whiteouts...), false),
		"whiteouts-upper":  fuzzSeed(mkTar(t, whiteouts...), true),
	}
}
