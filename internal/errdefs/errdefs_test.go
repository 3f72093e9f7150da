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
