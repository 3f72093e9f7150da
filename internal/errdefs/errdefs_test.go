package errdefs

import (
	"errors"
	"fmt"
	"testing"
)

func TestClasses(t *testing.T) {
	tests := []struct {
		err   error
		class error
		text  string
	}{
		{InvalidArgument("bad %s", "id"), ErrInvalidArgument, "bad id"},
		{NotFound("container %q", "x"), ErrNotFound, `container "x"`},
		{fmt.Errorf("create: %w", AlreadyExists("dup")), ErrAlreadyExists, "create: dup"},
		{Conflict("running"), ErrConflict, "running"},
	}
	for _, tc := range tests {
		if !errors.Is(tc.err, tc.class) {
			t.Errorf("%v: not of class %v", tc.err, tc.class)
		}
		if tc.err.Error() != tc.text {
			t.Errorf("text %q, want %q", tc.err.Error(), tc.text)
		}
		if errors.Is(tc.err, ErrInternal) {
			t.Errorf("%v: wrongly of class internal", tc.err)
		}
	}
}

func TestStartExitCode(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		want int
	}{
		{`exec "nonexistent": executable file not found in $PATH`, 127},
		{`exec "/x/y": stat /x/y: no such file or directory`, 127},
		{`exec "/etc/passwd": /etc/passwd is not an executable file`, 126},
		{`exec "/bin/sh": permission denied`, 126},
		{`cgroup: write memory.limit_in_bytes: device or resource busy`, 128},
	} {
		if got := StartExitCode(tc.msg); got != tc.want {
			t.Errorf("StartExitCode(%q) = %d, want %d", tc.msg, got, tc.want)
		}
	}
}
