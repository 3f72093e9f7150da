package rootfs

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want Options
	}{
		{"plain", []string{"nosuid", "noexec", "nodev"}, Options{Flags: unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NODEV}},
		{"rw clears ro", []string{"ro", "rw"}, Options{}},
		{"data", []string{"mode=755", "size=65536k", "ro"}, Options{Flags: unix.MS_RDONLY, Data: []string{"mode=755", "size=65536k"}}},
		{"rbind", []string{"rbind", "rprivate"}, Options{Bind: true, Recursive: true, Propagation: []uintptr{unix.MS_PRIVATE | unix.MS_REC}}},
		{"rro", []string{"bind", "rro", "rnosuid"}, Options{Bind: true, AttrSet: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID}},
		{"rrw after rro", []string{"rro", "rrw"}, Options{AttrClr: unix.MOUNT_ATTR_RDONLY}},
	}
	for _, tc := range tests {
		got := ParseOptions(tc.in)
		if got.Flags != tc.want.Flags || got.Bind != tc.want.Bind || got.Recursive != tc.want.Recursive ||
			got.AttrSet != tc.want.AttrSet || got.AttrClr != tc.want.AttrClr ||
			got.DataString() != tc.want.DataString() || len(got.Propagation) != len(tc.want.Propagation) {
			t.Errorf("%s: got %+v want %+v", tc.name, got, tc.want)
		}
	}
}

// FuzzParseOptions: any option list parses without panic, and ro/rw last wins.
func FuzzParseOptions(f *testing.F) {
	f.Add("ro,nosuid,mode=755")
	f.Add("rbind,rro,rprivate")
	f.Add("rw,ro,rw")
	f.Fuzz(func(t *testing.T, s string) {
		opts := strings.Split(s, ",")
		o := ParseOptions(opts)
		for i := len(opts) - 1; i >= 0; i-- {
			if opts[i] == "ro" || opts[i] == "rw" {
				if (o.Flags&unix.MS_RDONLY != 0) != (opts[i] == "ro") {
					t.Fatalf("%q: last of ro/rw not honoured", s)
				}
				break
			}
		}
	})
}
