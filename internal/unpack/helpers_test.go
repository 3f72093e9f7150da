package unpack

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/unpack/compress"
)

var epoch = time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)

// ent is one tar entry of a test layer.
type ent struct {
	hdr  tar.Header
	body []byte
}

func file(name, body string) ent {
	return ent{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body)), ModTime: epoch}, body: []byte(body)}
}

func dir(name string) ent {
	return ent{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, ModTime: epoch}}
}

func symlink(name, target string) ent {
	return ent{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777, ModTime: epoch}}
}

func hardlink(name, target string) ent {
	return ent{hdr: tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target, Mode: 0o644, ModTime: epoch}}
}

func node(typ byte, name string, major, minor int64) ent {
	return ent{hdr: tar.Header{Typeflag: typ, Name: name, Mode: 0o600, Devmajor: major, Devminor: minor, ModTime: epoch}}
}

// with edits an entry's header.
func (e ent) with(f func(h *tar.Header)) ent { f(&e.hdr); return e }

func xattr1(name, value string) func(h *tar.Header) {
	return func(h *tar.Header) {
		if h.PAXRecords == nil {
			h.PAXRecords = map[string]string{}
		}
		h.PAXRecords["SCHILY.xattr."+name] = value
	}
}

func mkTar(t testing.TB, ents ...ent) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range ents {
		h := e.hdr
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("tar header %q: %v", h.Name, err)
		}
		if _, err := tw.Write(e.body); err != nil {
			t.Fatalf("tar body %q: %v", h.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func zst(t testing.TB, b []byte) []byte {
	t.Helper()
	w, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	return w.EncodeAll(b, nil)
}

// The jail: hostile layers are applied on a thread that lives in its own
// mount namespace, where /etc is a throwaway copy. If extraction ever
// escaped while this package is being worked on, it would hit the copy,
// which the tests check, not the machine's /etc.
type jail struct {
	work chan func()
	etc  string // the directory mounted on /etc inside
}

var (
	jailOnce sync.Once
	theJail  *jail
	jailErr  error
)

var jailEtcFiles = map[string]string{
	"passwd": "root:x:0:0:root:/root:/bin/sh\n",
	"shadow": "root:*:19000:0:99999:7:::\n",
	"group":  "root:x:0:\n",
}

func getJail() (*jail, error) {
	jailOnce.Do(func() {
		if os.Geteuid() != 0 {
			jailErr = errors.New("not root")
			return
		}
		etc, err := os.MkdirTemp("", "unpack-jail-etc-")
		if err != nil {
			jailErr = err
			return
		}
		for n, c := range jailEtcFiles {
			if err := os.WriteFile(filepath.Join(etc, n), []byte(c), 0o644); err != nil {
				jailErr = err
				return
			}
		}
		j := &jail{work: make(chan func()), etc: etc}
		ready := make(chan error)
		go func() {
			// Never unlocked: the thread, and its namespace, end with the process.
			runtime.LockOSThread()
			err := unix.Unshare(unix.CLONE_NEWNS)
			if err == nil {
				err = unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, "")
			}
			if err == nil {
				err = unix.Mount(etc, "/etc", "", unix.MS_BIND, "")
			}
			ready <- err
			if err != nil {
				return
			}
			for f := range j.work {
				f()
			}
		}()
		if err := <-ready; err != nil {
			jailErr = err
			return
		}
		theJail = j
	})
	return theJail, jailErr
}

// inJail runs f on the jail's thread (or here, when not root: an
// unprivileged process cannot write /etc anyway). f must not call t.Fatal.
func inJail(f func()) {
	j, err := getJail()
	if err != nil {
		f()
		return
	}
	done := make(chan struct{})
	j.work <- func() { defer close(done); f() }
	<-done
}

// jailApply applies layer in the jail; compressed layers too, unless
// opts says how to read them.
func jailApply(root string, layer []byte, want digest.Digest, opts Options) (res Result, err error) {
	if opts.Decompress == nil {
		opts.Decompress = compress.Decompress
	}
	inJail(func() {
		res, err = Apply(context.Background(), root, bytes.NewReader(layer), string(want), opts)
	})
	return res, err
}

// checkJailEtc fails t if the jail's /etc copy changed.
func checkJailEtc(t testing.TB) {
	t.Helper()
	j, err := getJail()
	if err != nil {
		return
	}
	ents, err := os.ReadDir(j.etc)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != len(jailEtcFiles) {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("ESCAPE: the jail's /etc now holds %v", names)
	}
	for n, c := range jailEtcFiles {
		got, err := os.ReadFile(filepath.Join(j.etc, n))
		if err != nil || string(got) != c {
			t.Errorf("ESCAPE: the jail's /etc/%s changed: %q, %v", n, got, err)
		}
	}
}

// desc describes one filesystem entry for comparisons.
type desc struct {
	Type    string // reg dir lnk chr blk fifo
	Perm    uint32 // mode & 07777
	UID     uint32
	GID     uint32
	Content string // file content, or symlink target
	Rdev    uint64
	Nlink   uint64
	Mtime   int64 // unix nanoseconds
	Xattrs  map[string]string
}

func (d desc) String() string {
	return fmt.Sprintf("%s %04o %d:%d %q rdev=%d nlink=%d xattrs=%v", d.Type, d.Perm, d.UID, d.GID, d.Content, d.Rdev, d.Nlink, d.Xattrs)
}

// snapshot walks root without following symlinks and describes every entry
// by its path relative to root. It does not call t, so it may run in the jail.
func snapshot(root string) (map[string]desc, error) {
	out := map[string]desc{}
	err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		d := desc{Perm: st.Mode & 0o7777, UID: st.Uid, GID: st.Gid, Nlink: uint64(st.Nlink), Mtime: st.Mtim.Nano()}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			d.Type = "reg"
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			d.Content = string(b)
		case unix.S_IFDIR:
			d.Type = "dir"
			d.Nlink = 0 // counts subdirectories: differs between layouts
		case unix.S_IFLNK:
			d.Type = "lnk"
			d.Content, _ = os.Readlink(p)
		case unix.S_IFCHR:
			d.Type, d.Rdev = "chr", st.Rdev
		case unix.S_IFBLK:
			d.Type, d.Rdev = "blk", st.Rdev
		case unix.S_IFIFO:
			d.Type = "fifo"
		default:
			d.Type = "other"
		}
		d.Xattrs = listXattrs(p)
		out[filepath.ToSlash(rel)] = d
		return nil
	})
	return out, err
}

func listXattrs(p string) map[string]string {
	sz, err := unix.Llistxattr(p, nil)
	if err != nil || sz == 0 {
		return nil
	}
	buf := make([]byte, sz)
	sz, err = unix.Llistxattr(p, buf)
	if err != nil {
		return nil
	}
	m := map[string]string{}
	for _, n := range strings.Split(strings.TrimRight(string(buf[:sz]), "\x00"), "\x00") {
		if n == "" || strings.HasPrefix(n, "security.selinux") {
			continue
		}
		v := make([]byte, 64<<10)
		vn, err := unix.Lgetxattr(p, n, v)
		if err != nil {
			continue
		}
		m[n] = string(v[:vn])
	}
	return m
}

func mustSnapshot(t testing.TB, root string) map[string]desc {
	t.Helper()
	s, err := snapshot(root)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// diffSnapshots lists the differences between two snapshots, comparing
// what project keeps.
func diffSnapshots(a, b map[string]desc, project func(desc) desc) []string {
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var diffs []string
	for _, k := range keys {
		x, okx := a[k]
		y, oky := b[k]
		switch {
		case !okx:
			diffs = append(diffs, fmt.Sprintf("+ %s: %v", k, project(y)))
		case !oky:
			diffs = append(diffs, fmt.Sprintf("- %s: %v", k, project(x)))
		case project(x).String() != project(y).String():
			diffs = append(diffs, fmt.Sprintf("~ %s: %v != %v", k, project(x), project(y)))
		}
	}
	return diffs
}

func fullDesc(d desc) desc { return d }

// fingerprint records a directory tree (names, types, content, modes,
// times) to prove later that it was not touched.
func fingerprint(t testing.TB, root string) string {
	t.Helper()
	s := mustSnapshot(t, root)
	var keys []string
	for k := range s {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	h := sha256.New()
	for _, k := range keys {
		d := s[k]
		fmt.Fprintf(h, "%s %v %d\n", k, d, d.Mtime)
	}
	var st unix.Stat_t
	if err := unix.Lstat(root, &st); err == nil {
		fmt.Fprintf(h, ". %o %d:%d %d\n", st.Mode, st.Uid, st.Gid, st.Mtim.Nano())
	}
	return hex.EncodeToString(h.Sum(nil))
}

func fileHash(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		return "missing: " + err.Error()
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
