package main

import (
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/reference"
)

func TestParseImageRef(t *testing.T) {
	for _, tc := range []struct {
		in, repo, tag, digest, familiar, err string
	}{
		{in: "busybox", repo: "docker.io/library/busybox", familiar: "busybox"},
		{in: "busybox:1.36", repo: "docker.io/library/busybox", tag: "1.36", familiar: "busybox:1.36"},
		{in: "me/app", repo: "docker.io/me/app", familiar: "me/app"},
		{in: "index.docker.io/me/app:v1", repo: "docker.io/me/app", tag: "v1", familiar: "me/app:v1"},
		{in: "localhost/app", repo: "localhost/app", familiar: "localhost/app"},
		{in: "127.0.0.1:5000/a/b:x", repo: "127.0.0.1:5000/a/b", tag: "x", familiar: "127.0.0.1:5000/a/b:x"},
		{in: "[::1]:5000/a", repo: "[::1]:5000/a", familiar: "[::1]:5000/a"},
		{in: "Registry/app", repo: "Registry/app", familiar: "Registry/app"},
		{in: "a__b/c-d--e.f", repo: "docker.io/a__b/c-d--e.f", familiar: "a__b/c-d--e.f"},
		{in: "busybox@sha256:" + strings.Repeat("a", 64), repo: "docker.io/library/busybox", digest: "sha256:" + strings.Repeat("a", 64)},
		{in: "busybox:t@sha256:" + strings.Repeat("0", 64), repo: "docker.io/library/busybox", tag: "t", digest: "sha256:" + strings.Repeat("0", 64)},
		{in: "", err: "empty"},
		{in: "BusyBox", err: "lowercase"},
		{in: "me/App:v1", err: "lowercase"},
		{in: "busybox:", err: "invalid tag"},
		{in: "busybox:-x", err: "invalid tag"},
		{in: "busybox:" + strings.Repeat("x", 129), err: "invalid tag"},
		{in: "busybox@sha256:abc", err: "invalid digest"},
		{in: "busybox@md5:" + strings.Repeat("a", 64), err: "invalid digest"},
		{in: "a//b", err: "invalid repository name"},
		{in: "a/-b", err: "invalid repository name"},
		{in: "a/b_.c", err: "invalid repository name"},
		{in: "host:port/a", err: "invalid registry host"},
		{in: "-host.io/a", err: "invalid registry host"},
		{in: strings.Repeat("a", 64), err: "hexadecimal"},
		{in: "x.io/" + strings.Repeat("a", 251), err: "255"},
	} {
		r, err := parseImageRef(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want one with %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if r.Repository() != tc.repo || r.Tag != tc.tag || r.Digest != tc.digest {
			t.Errorf("%q: %+v, want %s %q %q", tc.in, r, tc.repo, tc.tag, tc.digest)
		}
		if tc.familiar != "" && r.Familiar() != tc.familiar {
			t.Errorf("%q: familiar %q, want %q", tc.in, r.Familiar(), tc.familiar)
		}
	}
}

// FuzzImageRef checks the CLI's hand-written reader against
// internal/reference (distribution/reference), which berthd uses: both
// accept the same strings and read them the same way.
func FuzzImageRef(f *testing.F) {
	for _, s := range []string{"busybox", "busybox:1", "a/b/c:d", "localhost:5000/x@sha256:" + strings.Repeat("f", 64),
		"[::1]/a", "UPPER/a", "a__b", "a...b", "x.io:/a", "a:b:c", "a@b", "@", ":"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, werr := reference.ParseAnyTag(s)
		got, gerr := parseImageRef(s)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%q: internal/reference says %v, the CLI %v", s, werr, gerr)
		}
		if werr != nil {
			return
		}
		if got.Domain != want.Domain || got.Path != want.Path || got.Tag != want.Tag || got.Digest != want.Digest.String() {
			t.Fatalf("%q: CLI %+v, internal/reference %+v", s, got, want)
		}
		if got.Familiar() != want.Familiar() {
			t.Fatalf("%q: familiar %q vs %q", s, got.Familiar(), want.Familiar())
		}
	})
}
