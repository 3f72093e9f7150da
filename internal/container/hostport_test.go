package container

import "testing"

func TestParseHostPort(t *testing.T) {
	tests := []struct {
		in     string
		lo, hi int
		ok     bool
	}{
		{"8080", 8080, 0, true},
		{"0", 0, 0, true},
		{"8000-8010", 8000, 8010, true},
		{"8000-8000", 8000, 8000, true},
		{"8010-8000", 0, 0, false},
		{"0-10", 0, 0, false},
		{"65536", 0, 0, false},
		{"8000-70000", 0, 0, false},
		{"-1", 0, 0, false},
		{"x", 0, 0, false},
		{"80-", 0, 0, false},
		{"1-2-3", 0, 0, false},
	}
	for _, tc := range tests {
		lo, hi, err := parseHostPort(tc.in)
		if (err == nil) != tc.ok || lo != tc.lo || hi != tc.hi {
			t.Errorf("parseHostPort(%q) = %d, %d, %v", tc.in, lo, hi, err)
		}
	}
}

// FuzzParseHostPort: whatever the API sends, a port or range comes out in
// bounds, or an error.
func FuzzParseHostPort(f *testing.F) {
	for _, s := range []string{"8080", "8000-8010", "0", "", "-", "65535-65535", "1-0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lo, hi, err := parseHostPort(s)
		if err != nil {
			return
		}
		if lo < 0 || lo > 65535 || (hi != 0 && (hi < lo || hi > 65535 || lo == 0)) {
			t.Fatalf("parseHostPort(%q) = %d, %d", s, lo, hi)
		}
	})
}
