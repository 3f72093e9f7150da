package errdefs

import (
	"context"
	"errors"
	"net/http"
)

// HTTPStatus maps an error to the status the Docker Engine API uses for it.
// This is the one place that mapping lives.
func HTTPStatus(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrInvalidArgument):
		return http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrAlreadyExists), errors.Is(err, ErrConflict):
		return http.StatusConflict
	case errors.Is(err, ErrFailedPrecondition):
		return http.StatusPreconditionFailed
	case errors.Is(err, ErrPermissionDenied):
		return http.StatusForbidden
	case errors.Is(err, ErrNotImplemented):
		return http.StatusNotImplemented
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusRequestTimeout
	}
	return http.StatusInternalServerError
}

// FromHTTPStatus is the reverse, for clients reading an API error.
func FromHTTPStatus(code int, msg string) error {
	class := ErrInternal
	switch code {
	case http.StatusBadRequest:
		class = ErrInvalidArgument
	case http.StatusNotFound:
		class = ErrNotFound
	case http.StatusConflict:
		class = ErrConflict
	case http.StatusPreconditionFailed:
		class = ErrFailedPrecondition
	case http.StatusForbidden, http.StatusUnauthorized:
		class = ErrPermissionDenied
	case http.StatusNotImplemented:
		class = ErrNotImplemented
	case http.StatusServiceUnavailable:
		class = ErrUnavailable
	}
	return &classed{class: class, msg: msg}
}
