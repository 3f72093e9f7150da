package registry

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"
)

// retrier retries idempotent requests on transient failures: connection
// errors, 429 and 5xx, with exponential backoff (honouring a short
// Retry-After). Uploads are retried by the push logic, which can rewind.
type retrier struct {
	inner http.RoundTripper
}

const retryAttempts = 4

func (r *retrier) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		return r.inner.RoundTrip(req)
	}
	backoff := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		resp, err := r.inner.RoundTrip(req)
		if attempt == retryAttempts || !transient(resp, err) {
			return resp, err
		}
		wait := backoff
		if resp != nil {
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 && s <= 10 {
				wait = time.Duration(s) * time.Second
			}
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		select {
		case <-time.After(wait):
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
		backoff *= 3
	}
}

func transient(resp *http.Response, err error) bool {
	if err != nil {
		var ne net.Error
		return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
			errors.Is(err, io.ErrUnexpectedEOF) || (errors.As(err, &ne) && ne.Timeout())
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}
