package specgen

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/errdefs"
)

// FuzzParseSeccompProfile feeds untrusted profiles (a seccomp=<file> or the
// JSON a client sends) to the parser: it must never panic, every error must
// be InvalidArgument, and an accepted profile must resolve for any
// capability set and encode as JSON. Seeds live in
// testdata/fuzz/FuzzParseSeccompProfile.
func FuzzParseSeccompProfile(f *testing.F) {
	f.Add([]byte(smallProfile))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := parseProfile(data)
		if err != nil {
			if !errdefs.IsInvalidArgument(err) {
				t.Fatalf("error %v is not InvalidArgument", err)
			}
			return
		}
		for _, caps := range [][]string{nil, DefaultCapabilities(), allCapabilities()} {
			for _, arch := range []string{"amd64", "arm64", "s390x"} {
				s, err := p.resolve(caps, arch, kver{5, 10})
				if err != nil {
					t.Fatalf("resolve an accepted profile: %v", err)
				}
				if s.DefaultAction == "" {
					t.Fatal("resolved profile without a default action")
				}
				if _, err := json.Marshal(s); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}

// FuzzResolveUser feeds a -u value and an image's /etc/passwd and
// /etc/group to the user lookup: no panic, only InvalidArgument errors, and
// ids always in range with the primary gid first among the extra ones.
// Seeds live in testdata/fuzz/FuzzResolveUser.
func FuzzResolveUser(f *testing.F) {
	f.Add("alice:audio", testPasswd, testGroup, "video")
	f.Fuzz(func(t *testing.T, spec, passwd, group, groupAdd string) {
		var add []string
		if groupAdd != "" {
			add = strings.Split(groupAdd, ",")
		}
		u, home, err := resolveUser(spec, parsePasswd([]byte(passwd)), parseGroup([]byte(group)), add, false)
		if err != nil {
			if !errdefs.IsInvalidArgument(err) {
				t.Fatalf("error %v is not InvalidArgument", err)
			}
			return
		}
		if u.UID > maxID || u.GID > maxID {
			t.Fatalf("ids out of range: %+v", u)
		}
		if len(u.AdditionalGids) == 0 || u.AdditionalGids[0] != u.GID {
			t.Fatalf("additional gids %v do not start with the gid %d", u.AdditionalGids, u.GID)
		}
		seen := map[uint32]bool{}
		for _, g := range u.AdditionalGids {
			if seen[g] || g > maxID {
				t.Fatalf("additional gids %v repeat or overflow", u.AdditionalGids)
			}
			seen[g] = true
		}
		if home == "" {
			t.Fatal("empty home")
		}
	})
}

// FuzzTmpfsOptions feeds --tmpfs option strings to the merge: no panic,
// only InvalidArgument errors, and a result that merges to itself with no
// two options of one kind.
// Seeds live in testdata/fuzz/FuzzTmpfsOptions.
func FuzzTmpfsOptions(f *testing.F) {
	f.Add("rw,size=64m,mode=1777")
	f.Fuzz(func(t *testing.T, in string) {
		out, err := mergeTmpfsOptions(strings.Split(in, ","))
		if err != nil {
			if !errdefs.IsInvalidArgument(err) {
				t.Fatalf("error %v is not InvalidArgument", err)
			}
			return
		}
		again, err := mergeTmpfsOptions(out)
		if err != nil || strings.Join(again, ",") != strings.Join(out, ",") {
			t.Fatalf("merge is not idempotent: %q -> %q (%v)", out, again, err)
		}
		for _, o := range out {
			if o == "" || strings.ContainsAny(o, ", \t\n") {
				t.Fatalf("bad option %q in %q", o, out)
			}
		}
	})
}
