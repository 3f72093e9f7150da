package caps

import (
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{"CAP_CHOWN", 0, true},
		{"chown", 0, true},
		{"cap_sys_admin", 21, true},
		{"CAP_CHECKPOINT_RESTORE", 40, true},
		{"CAP_NOPE", -1, false},
		{"", -1, false},
	}
	for _, tc := range tests {
		got, err := Parse(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("Parse(%q) = %d, %v; want %d ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestValidateNamesField(t *testing.T) {
	err := Validate(&specs.LinuxCapabilities{Bounding: []string{"CAP_KILL"}, Ambient: []string{"CAP_KILL", "CAP_BOGUS"}})
	if err == nil || !strings.Contains(err.Error(), "process.capabilities.ambient[1]") || !strings.Contains(err.Error(), "CAP_BOGUS") {
		t.Fatalf("error %v does not name the field and value", err)
	}
	if err := Validate(&specs.LinuxCapabilities{Effective: []string{"CAP_NET_RAW"}}); err != nil {
		t.Fatal(err)
	}
}

func TestMask(t *testing.T) {
	if got := mask([]string{"CAP_CHOWN", "CAP_KILL", "CAP_BOGUS"}); got != 1|1<<5 {
		t.Fatalf("mask = %#x", got)
	}
}
