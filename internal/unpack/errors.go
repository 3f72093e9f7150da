package unpack

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
)

// entryError names the tar entry a failure belongs to and keeps both the
// cause (an errno, an archive/tar error) and the error class reachable
// through errors.Is.
type entryError struct {
	name  string
	err   error
	class error
}

func (e *entryError) Error() string { return fmt.Sprintf("unpack: entry %q: %v", short(e.name), e.err) }

func (e *entryError) Unwrap() []error {
	if e.class == nil {
		return []error{e.err}
	}
	return []error{e.err, e.class}
}

// streamError is a failure of the layer stream itself (decompression, tar
// framing) rather than of one entry.
type streamError struct {
	after string // the last entry read, "" before the first
	err   error
	class error
}

func (e *streamError) Error() string {
	if e.after == "" {
		return fmt.Sprintf("unpack: layer stream: %v", e.err)
	}
	return fmt.Sprintf("unpack: layer stream after entry %q: %v", short(e.after), e.err)
}

func (e *streamError) Unwrap() []error {
	if e.class == nil {
		return []error{e.err}
	}
	return []error{e.err, e.class}
}

func entryErr(name string, err error) error {
	return &entryError{name: name, err: err, class: classOf(err)}
}

// invalid reports content a layer must not carry.
func invalid(format string, args ...any) error {
	return errdefs.InvalidArgument(format, args...)
}

var classes = []error{
	errdefs.ErrInvalidArgument, errdefs.ErrNotFound, errdefs.ErrAlreadyExists,
	errdefs.ErrConflict, errdefs.ErrFailedPrecondition, errdefs.ErrUnavailable,
	errdefs.ErrNotImplemented, errdefs.ErrPermissionDenied, errdefs.ErrInternal,
}

// classOf picks the class for a failure while applying an entry. Nearly every
// failure there is caused by what the layer asks for (a parent that is a
// file, a missing hardlink target, a refused xattr), so that is the default;
// the exceptions are the host running out of something, a missing privilege,
// and cancellation, which keeps its own identity.
func classOf(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	for _, c := range classes {
		if errors.Is(err, c) {
			return nil
		}
	}
	var errno unix.Errno
	if errors.As(err, &errno) {
		switch errno {
		case unix.ENOSPC, unix.EDQUOT, unix.EIO, unix.ENOMEM, unix.EMFILE, unix.ENFILE, unix.EROFS:
			return errdefs.ErrInternal
		case unix.EPERM, unix.EACCES:
			return errdefs.ErrPermissionDenied
		}
	}
	return errdefs.ErrInvalidArgument
}
