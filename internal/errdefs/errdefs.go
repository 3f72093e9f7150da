// Package errdefs defines Berth's error classes. Every error that crosses a
// boundary (CLI exit, HTTP status, gRPC code) wraps exactly one of these, so
// callers classify with errors.Is instead of matching strings.
package errdefs

import (
	"errors"
	"fmt"
)

// The classes. Wrap one with fmt.Errorf("...: %w", ErrNotFound) or use the
// constructors below.
var (
	ErrInvalidArgument    = errors.New("invalid argument")
	ErrNotFound           = errors.New("not found")
	ErrAlreadyExists      = errors.New("already exists")
	ErrConflict           = errors.New("conflict")
	ErrFailedPrecondition = errors.New("failed precondition")
	ErrUnavailable        = errors.New("unavailable")
	ErrNotImplemented     = errors.New("not implemented")
	ErrPermissionDenied   = errors.New("permission denied")
	ErrInternal           = errors.New("internal")
)

type classed struct {
	class error
	msg   string
}

func (e *classed) Error() string { return e.msg }
func (e *classed) Unwrap() error { return e.class }

func newf(class error, format string, args ...any) error {
	return &classed{class: class, msg: fmt.Sprintf(format, args...)}
}

// InvalidArgument returns an error of class ErrInvalidArgument whose text is
// only the formatted message (the class name is not appended).
func InvalidArgument(format string, args ...any) error {
	return newf(ErrInvalidArgument, format, args...)
}

// NotFound returns an error of class ErrNotFound.
func NotFound(format string, args ...any) error { return newf(ErrNotFound, format, args...) }

// AlreadyExists returns an error of class ErrAlreadyExists.
func AlreadyExists(format string, args ...any) error { return newf(ErrAlreadyExists, format, args...) }

// Conflict returns an error of class ErrConflict.
func Conflict(format string, args ...any) error { return newf(ErrConflict, format, args...) }

// FailedPrecondition returns an error of class ErrFailedPrecondition.
func FailedPrecondition(format string, args ...any) error {
	return newf(ErrFailedPrecondition, format, args...)
}

// NotImplemented returns an error of class ErrNotImplemented.
func NotImplemented(format string, args ...any) error {
	return newf(ErrNotImplemented, format, args...)
}

// Is helpers keep call sites short.
func IsInvalidArgument(err error) bool { return errors.Is(err, ErrInvalidArgument) }
func IsNotFound(err error) bool        { return errors.Is(err, ErrNotFound) }
func IsAlreadyExists(err error) bool   { return errors.Is(err, ErrAlreadyExists) }
func IsConflict(err error) bool        { return errors.Is(err, ErrConflict) }

// Unavailable returns an error of class ErrUnavailable (a peer is down or
// overloaded; retrying later may work).
func Unavailable(format string, args ...any) error { return newf(ErrUnavailable, format, args...) }

// PermissionDenied returns an error of class ErrPermissionDenied.
func PermissionDenied(format string, args ...any) error {
	return newf(ErrPermissionDenied, format, args...)
}

// Internal returns an error of class ErrInternal.
func Internal(format string, args ...any) error { return newf(ErrInternal, format, args...) }

func IsUnavailable(err error) bool        { return errors.Is(err, ErrUnavailable) }
func IsPermissionDenied(err error) bool   { return errors.Is(err, ErrPermissionDenied) }
func IsFailedPrecondition(err error) bool { return errors.Is(err, ErrFailedPrecondition) }
func IsNotImplemented(err error) bool     { return errors.Is(err, ErrNotImplemented) }
