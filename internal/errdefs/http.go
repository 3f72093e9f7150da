package errdefs

import (
	"context"
	"errors"
)

// HTTP status codes, spelled out so that packages which only classify
// errors (the shim) need not link net/http.
const (
	statusOK                  = 200
	statusBadRequest          = 400
	statusUnauthorized        = 401
	statusForbidden           = 403
	statusNotFound            = 404
	statusRequestTimeout      = 408
	statusConflict            = 409
	statusPreconditionFailed  = 412
	statusInternalServerError = 500
	statusNotImplemented      = 501
	statusServiceUnavailable  = 503
)

// HTTPStatus maps an error to the status the Docker Engine API uses for it.
// This is the one place that mapping lives.
func HTTPStatus(err error) int {
	switch {
	case err == nil:
		return statusOK
	case errors.Is(err, ErrInvalidArgument):
		return statusBadRequest
	case errors.Is(err, ErrNotFound):
		return statusNotFound
	case errors.Is(err, ErrAlreadyExists), errors.Is(err, ErrConflict):
		return statusConflict
	case errors.Is(err, ErrFailedPrecondition):
		return statusPreconditionFailed
	case errors.Is(err, ErrPermissionDenied):
		return statusForbidden
	case errors.Is(err, ErrNotImplemented):
		return statusNotImplemented
	case errors.Is(err, ErrUnavailable):
		return statusServiceUnavailable
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return statusRequestTimeout
	}
	return statusInternalServerError
}

// FromHTTPStatus is the reverse, for clients reading an API error.
func FromHTTPStatus(code int, msg string) error {
	class := ErrInternal
	switch code {
	case statusBadRequest:
		class = ErrInvalidArgument
	case statusNotFound:
		class = ErrNotFound
	case statusConflict:
		class = ErrConflict
	case statusPreconditionFailed:
		class = ErrFailedPrecondition
	case statusForbidden, statusUnauthorized:
		class = ErrPermissionDenied
	case statusNotImplemented:
		class = ErrNotImplemented
	case statusServiceUnavailable:
		class = ErrUnavailable
	}
	return &classed{class: class, msg: msg}
}
