package specgen

import (
	"slices"
	"strings"
	"testing"
)

func TestCapabilities(t *testing.T) {
	def := DefaultCapabilities()
	all := allCapabilities()
	without := func(list []string, drop ...string) []string {
		return slices.DeleteFunc(slices.Clone(list), func(c string) bool { return slices.Contains(drop, c) })
	}
	for _, tc := range []struct {
		name       string
		add, drop  []string
		privileged bool
		want       []string
	}{
		{name: "defaults", want: def},
		{name: "add short name", add: []string{"NET_ADMIN"}, want: append(slices.Clone(def), "CAP_NET_ADMIN")},
		{name: "add full name, lower case", add: []string{"cap_sys_admin"}, want: append(slices.Clone(def), "CAP_SYS_ADMIN")},
		{name: "add one already there", add: []string{"CHOWN"}, want: def},
		{name: "drop", drop: []string{"NET_RAW", "CAP_MKNOD"}, want: without(def, "CAP_NET_RAW", "CAP_MKNOD")},
		{name: "drop ALL", drop: []string{"ALL"}, want: []string{}},
		{name: "drop ALL, add some", drop: []string{"all"}, add: []string{"NET_BIND_SERVICE", "CHOWN"}, want: []string{"CAP_NET_BIND_SERVICE", "CAP_CHOWN"}},
		{name: "add ALL", add: []string{"ALL"}, want: all},
		{name: "add ALL, drop some", add: []string{"ALL"}, drop: []string{"SYS_ADMIN"}, want: without(all, "CAP_SYS_ADMIN")},
		{name: "add and drop the same", add: []string{"NET_ADMIN"}, drop: []string{"NET_ADMIN"}, want: append(slices.Clone(def), "CAP_NET_ADMIN")},
		{name: "privileged ignores drops", privileged: true, drop: []string{"ALL"}, want: all},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := generate(t, busybox, Options{CapAdd: tc.add, CapDrop: tc.drop, Privileged: tc.privileged})
			c := s.Process.Capabilities
			if !slices.Equal(c.Bounding, tc.want) && !(len(c.Bounding) == 0 && len(tc.want) == 0) {
				t.Errorf("bounding = %q\nwant %q", c.Bounding, tc.want)
			}
			if !slices.Equal(c.Effective, c.Bounding) || !slices.Equal(c.Permitted, c.Bounding) {
				t.Errorf("effective %q / permitted %q differ from bounding", c.Effective, c.Permitted)
			}
			if len(c.Inheritable) != 0 || len(c.Ambient) != 0 {
				t.Errorf("inheritable %q ambient %q, want empty", c.Inheritable, c.Ambient)
			}
		})
	}
}

func TestCapabilityErrors(t *testing.T) {
	for _, tc := range []Options{
		{CapAdd: []string{"NET_ADMINN"}},
		{CapDrop: []string{"CAP_FOO"}},
		{CapAdd: []string{""}},
		{CapAdd: []string{" CHOWN"}},
	} {
		err := wantInvalid(t, busybox, tc)
		if !strings.Contains(err.Error(), "unknown capability") {
			t.Errorf("error = %q", err)
		}
	}
}

func TestAllCapabilities(t *testing.T) {
	all := allCapabilities()
	for _, c := range []string{"CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_AUDIT_READ"} {
		if !slices.Contains(all, c) {
			t.Errorf("all capabilities lack %s", c)
		}
	}
	for _, c := range DefaultCapabilities() {
		if !slices.Contains(all, c) {
			t.Errorf("default %s unknown", c)
		}
	}
	if len(DefaultCapabilities()) != 14 {
		t.Errorf("default set has %d capabilities, Docker's has 14", len(DefaultCapabilities()))
	}
}
