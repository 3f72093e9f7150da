package snapshot

import (
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/testutil"
)

func TestParseMountOptions(t *testing.T) {
	tests := []struct {
		name  string
		opts  []string
		flags uintptr
		data  []string
	}{
		{"none", nil, 0, nil},
		{"read-only bind", []string{"rbind", "ro"}, unix.MS_BIND | unix.MS_REC | unix.MS_RDONLY, nil},
		{"rw clears ro", []string{"ro", "rw"}, 0, nil},
		{"overlay data", []string{"index=off", "upperdir=/u", "lowerdir=/a:/b", "nosuid"}, unix.MS_NOSUID, []string{"index=off", "upperdir=/u", "lowerdir=/a:/b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := parseMountOptions(tc.opts)
			if o.flags != tc.flags || !slices.Equal(o.data, tc.data) {
				t.Errorf("got flags %#x data %q, want %#x %q", o.flags, o.data, tc.flags, tc.data)
			}
		})
	}
}

func TestUnmountAllNotMounted(t *testing.T) {
	testutil.RequireRoot(t) // without root umount2 fails with EPERM first
	for _, target := range []string{t.TempDir(), "/nonexistent/berth"} {
		if err := UnmountAll(target); err != nil {
			t.Errorf("UnmountAll(%s): %v", target, err)
		}
	}
}

func TestVolatile(t *testing.T) {
	in := []Mount{
		{Type: "overlay", Source: "overlay", Options: []string{"index=off", "lowerdir=/l", "upperdir=/u", "workdir=/w"}},
		{Type: "overlay", Source: "overlay", Options: []string{"lowerdir=/a:/b"}},
		{Type: "bind", Source: "/s", Options: []string{"rbind", "rw"}},
	}
	out := Volatile(in)
	if got := strings.Join(out[0].Options, ","); got != "index=off,lowerdir=/l,upperdir=/u,workdir=/w,volatile" {
		t.Errorf("writable overlay: %s", got)
	}
	if len(out[1].Options) != 1 || len(out[2].Options) != 2 {
		t.Errorf("read-only overlay and bind changed: %+v", out[1:])
	}
	if len(in[0].Options) != 4 {
		t.Errorf("input changed: %v", in[0].Options)
	}
}
