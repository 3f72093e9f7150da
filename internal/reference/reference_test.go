package reference

import (
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/errdefs"
)

func TestParse(t *testing.T) {
	const dg = "sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		in, canon, familiar string
	}{
		{"busybox", "docker.io/library/busybox:latest", "busybox:latest"},
		{"busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"},
		{"user/app", "docker.io/user/app:latest", "user/app:latest"},
		{"docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"},
		{"localhost:5000/a/b:v1", "localhost:5000/a/b:v1", "localhost:5000/a/b:v1"},
		{"127.0.0.1:5000/x@" + dg, "127.0.0.1:5000/x@" + dg, "127.0.0.1:5000/x@" + dg},
		{"busybox:t@" + dg, "docker.io/library/busybox:t@" + dg, "busybox:t@" + dg},
		{"registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10"},
	}
	for _, tc := range tests {
		r, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if r.String() != tc.canon {
			t.Errorf("Parse(%q) = %q, want %q", tc.in, r.String(), tc.canon)
		}
		if r.Familiar() != tc.familiar {
			t.Errorf("Parse(%q).Familiar() = %q, want %q", tc.in, r.Familiar(), tc.familiar)
		}
		back, err := Parse(r.String())
		if err != nil || back != r {
			t.Errorf("round trip of %q: %+v %v", r.String(), back, err)
		}
	}
}

func TestParseInvalid(t *testing.T) {
	for _, in := range []string{"", "busybox/UPPER", "a b", "busybox:", "busybox@sha256:xyz", ":tag", "a//b", strings.Repeat("a", 5000), "-x"} {
		_, err := Parse(in)
		if err == nil {
			t.Errorf("Parse(%q): no error", in)
			continue
		}
		if !errdefs.IsInvalidArgument(err) {
			t.Errorf("Parse(%q): %v is not InvalidArgument", in, err)
		}
		if in != "" && len(in) < 100 && !strings.Contains(err.Error(), in) {
			t.Errorf("Parse(%q): error %q does not name the input", in, err)
		}
	}
}

func TestTagAndID(t *testing.T) {
	if err := ParseTag("v1.2-rc_3"); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"", ".x", "a/b", strings.Repeat("x", 129)} {
		if ParseTag(bad) == nil {
			t.Errorf("ParseTag(%q) accepted", bad)
		}
	}
	id := strings.Repeat("ab", 32)
	if !IsDigestID(id) || !IsDigestID("sha256:"+id) || IsDigestID("busybox") {
		t.Error("IsDigestID")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"busybox", "a/b:c", "localhost:5000/x@sha256:" + strings.Repeat("0", 64), "UPPER", "::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			if !errdefs.IsInvalidArgument(err) {
				t.Fatalf("%q: unclassed error %v", s, err)
			}
			return
		}
		back, err := Parse(r.String())
		if err != nil || back != r {
			t.Fatalf("%q: canonical %q does not round-trip: %+v %v", s, r.String(), back, err)
		}
	})
}
