package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"

	"github.com/berth-dev/berth/internal/errdefs"
)

// apiVersion is the Engine API version this CLI speaks.
const apiVersion = "1.51"

// client is a minimal Docker Engine API client over a unix socket
// (wire.go).
type client struct {
	host  string
	base  string // path prefix: the API version
	conns *pool
}

func newClient(host string) *client {
	return &client{host: host, base: "/v" + apiVersion, conns: &pool{sock: strings.TrimPrefix(host, "unix://")}}
}

// do sends a request and turns an error status into a classed error
// carrying the daemon's message.
func (c *client) do(ctx context.Context, method, path string, q url.Values, body io.Reader, hdr header) (*response, error) {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	if body != nil && hdr.Get("Content-Type") == "" {
		h := header{"Content-Type": {"application/json"}}
		for k, v := range hdr {
			h[k] = v
		}
		hdr = h
	}
	resp, err := c.conns.roundTrip(ctx, method, u, hdr, body, ownConn(ctx))
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("cannot connect to the Berth daemon at %s: is berthd running? (%v)", c.host, unwrapNet(err))
	}
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var m struct{ Message string }
		if json.Unmarshal(b, &m) != nil || m.Message == "" {
			m.Message = strings.TrimSpace(string(b))
		}
		return nil, errdefs.FromHTTPStatus(resp.StatusCode, m.Message)
	}
	return resp, nil
}

type ownConnKey struct{}

// withOwnConn marks a request (a long poll: wait, events) to go on a
// connection of its own, leaving the pooled one to the requests after it.
func withOwnConn(ctx context.Context) context.Context {
	return context.WithValue(ctx, ownConnKey{}, true)
}

func ownConn(ctx context.Context) bool { v, _ := ctx.Value(ownConnKey{}).(bool); return v }

// unwrapNet drops the layers that only repeat the socket's path.
func unwrapNet(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err
	}
	return err
}

// getJSON decodes a GET response into v.
func (c *client) getJSON(ctx context.Context, path string, q url.Values, v any) error {
	resp, err := c.do(ctx, "GET", path, q, nil, nil)
	if err != nil {
		return err
	}
	defer drainClose(resp.Body)
	return json.NewDecoder(resp.Body).Decode(v)
}

// drainClose reads a JSON answer's last bytes (the decoder stops at the
// end of the value, before the body's end) so that the connection is
// reused, then closes it.
func drainClose(b io.ReadCloser) {
	io.Copy(io.Discard, io.LimitReader(b, 64<<10))
	b.Close()
}

// postJSON sends in as JSON and decodes the answer into out (if non-nil).
func (c *client) postJSON(ctx context.Context, path string, q url.Values, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = strings.NewReader(string(b))
	}
	resp, err := c.do(ctx, "POST", path, q, body, nil)
	if err != nil {
		return err
	}
	defer drainClose(resp.Body)
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// escapeName keeps the slashes of image names in paths.
func escapeName(s string) string {
	parts := strings.Split(s, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}
