package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/berth-dev/berth/internal/errdefs"
)

// httpError turns a failed registry response into a classed error that
// quotes the registry's own error message.
func httpError(resp *http.Response, what string) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	var env struct {
		Errors []struct{ Code, Message string } `json:"errors"`
	}
	detail := strings.TrimSpace(string(body))
	if json.Unmarshal(body, &env) == nil && len(env.Errors) > 0 {
		var parts []string
		for _, e := range env.Errors {
			parts = append(parts, strings.ToLower(strings.ReplaceAll(e.Code, "_", " "))+": "+e.Message)
		}
		detail = strings.Join(parts, "; ")
	}
	if len(detail) > 300 {
		detail = detail[:300] + "..."
	}
	msg := fmt.Sprintf("%s: %s %s", what, resp.Status, detail)
	switch resp.StatusCode {
	case http.StatusNotFound:
		return errdefs.NotFound("%s", msg)
	case http.StatusUnauthorized, http.StatusForbidden:
		return errdefs.PermissionDenied("%s (does the repository exist? you may need 'berth login')", msg)
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return errdefs.Unavailable("%s", msg)
	case http.StatusBadRequest:
		return errdefs.InvalidArgument("%s", msg)
	}
	return errdefs.Internal("%s", msg)
}

// classify gives transport failures (refused connections, the auth
// handshake's errors) an errdefs class.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("%w: %w", errdefs.ErrPermissionDenied, err)
		case http.StatusNotFound:
			return fmt.Errorf("%w: %w", errdefs.ErrNotFound, err)
		}
		if te.StatusCode >= 500 || te.StatusCode == http.StatusTooManyRequests {
			return fmt.Errorf("%w: %w", errdefs.ErrUnavailable, err)
		}
	}
	var ne net.Error
	var de *net.DNSError
	if errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &de) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("%w: %w", errdefs.ErrUnavailable, err)
	}
	return err
}
