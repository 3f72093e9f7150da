package unpack

import (
	_ "crypto/sha256"
	_ "crypto/sha512"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

func TestCheckDigest(t *testing.T) {
	hex64 := strings.Repeat("ab", 32)
	tests := []struct {
		in, alg string
		ok      bool
	}{
		{"sha256:" + hex64, "sha256", true},
		{"sha384:" + strings.Repeat("0f", 48), "sha384", true},
		{"sha512:" + strings.Repeat("9a", 64), "sha512", true},
		{"sha256:" + strings.ToUpper(hex64), "", false},
		{"sha256:" + hex64[:63], "", false},
		{"sha256:" + hex64 + "0", "", false},
		{"sha256:" + hex64[:62] + "g0", "", false},
		{"md5:d41d8cd98f00b204e9800998ecf8427e", "", false},
		{"sha256" + hex64, "", false},
		{"", "", false},
	}
	for _, tc := range tests {
		alg, err := checkDigest(tc.in)
		if (err == nil) != tc.ok || alg != tc.alg {
			t.Errorf("checkDigest(%q) = %q, %v; want ok %v (%q)", tc.in, alg, err, tc.ok, tc.alg)
		}
	}
}

// FuzzCheckDigest holds checkDigest to go-digest's rules for the three
// algorithms of the OCI image spec.
func FuzzCheckDigest(f *testing.F) {
	f.Add("sha256:" + strings.Repeat("ab", 32))
	f.Add("sha512:" + strings.Repeat("00", 64))
	f.Add("sha256:AB")
	f.Add("sha256+b64u:abc")
	f.Fuzz(func(t *testing.T, s string) {
		_, err := checkDigest(s)
		d := digest.Digest(s)
		want := d.Validate() == nil
		if want {
			switch d.Algorithm() {
			case digest.SHA256, digest.SHA384, digest.SHA512:
			default:
				want = false
			}
		}
		if (err == nil) != want {
			t.Errorf("checkDigest(%q): %v, go-digest says valid=%v", s, err, want)
		}
	})
}
