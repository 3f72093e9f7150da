// Package registry talks to image registries (OCI distribution spec and
// Docker registry v2): it resolves manifests, fetches blobs with range
// resume, and pushes. go-containerregistry's transport does the auth
// handshake (basic and bearer tokens); requests, mirrors, insecure hosts,
// retries and error classes are ours.
package registry

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/reference"
)

// Config is the registry part of berthd's configuration.
type Config struct {
	// Mirrors maps a registry host (docker.io, registry.k8s.io, ...) to
	// endpoints tried before it, e.g. "http://127.0.0.1:5000".
	Mirrors map[string][]string
	// Insecure lists hosts (host or host:port) or CIDRs that may be reached
	// over plain HTTP or with unverified TLS. Loopback always may.
	Insecure []string
}

// Credentials authenticate to one registry (from X-Registry-Auth, a CRI
// request or ~/.docker/config.json).
type Credentials struct {
	Username      string `json:"username,omitempty"`
	Password      string `json:"password,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
	RegistryToken string `json:"registrytoken,omitempty"`
}

func (c *Credentials) authenticator() authn.Authenticator {
	if c == nil || *c == (Credentials{}) {
		return authn.Anonymous
	}
	return authn.FromConfig(authn.AuthConfig{Username: c.Username, Password: c.Password, IdentityToken: c.IdentityToken, RegistryToken: c.RegistryToken})
}

// Client creates repository handles. It is safe for concurrent use and
// caches authenticated transports (a bearer token per repository and scope).
type Client struct {
	cfg     Config
	secure  http.RoundTripper
	relaxed http.RoundTripper // unverified TLS for insecure hosts

	mu    sync.Mutex
	cache map[string]http.RoundTripper
}

// New returns a client.
func New(cfg Config) *Client {
	base := func(insecure bool) http.RoundTripper {
		t := &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConnsPerHost:   16,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 60 * time.Second,
			// Layers are already compressed; asking for gzip would only
			// make Go hide the real Content-Length.
			DisableCompression: true,
		}
		if insecure {
			t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
		}
		return &retrier{inner: t}
	}
	return &Client{cfg: cfg, secure: base(false), relaxed: base(true), cache: map[string]http.RoundTripper{}}
}

// insecure reports whether host may use plain HTTP / unverified TLS.
func (c *Client) insecure(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(h, "[]"))
	if ip != nil && ip.IsLoopback() {
		return true
	}
	for _, e := range c.cfg.Insecure {
		if e == host || e == h {
			return true
		}
		if _, cidr, err := net.ParseCIDR(e); err == nil && ip != nil && cidr.Contains(ip) {
			return true
		}
	}
	return false
}

// endpoint is one place a repository can be reached.
type endpoint struct {
	host   string // host[:port] to dial
	scheme string // "https" or "http" (forced), "" = negotiate
}

// endpoints lists the mirrors for ref's registry, then the registry itself.
func (c *Client) endpoints(domain string, push bool) []endpoint {
	var out []endpoint
	if !push {
		for _, m := range c.cfg.Mirrors[domain] {
			e := endpoint{host: m}
			if s, rest, ok := strings.Cut(m, "://"); ok {
				e.scheme, e.host = s, strings.TrimSuffix(rest, "/")
			}
			out = append(out, e)
		}
	}
	host := domain
	if domain == reference.DefaultDomain {
		host = "registry-1.docker.io"
	}
	return append(out, endpoint{host: host})
}

// scope is a token scope string for repo ("repository:a/b:pull,push").
func scope(repo string, actions ...string) string {
	return "repository:" + repo + ":" + strings.Join(actions, ",")
}

// transport returns an authenticated round tripper for e with the given
// token scopes.
func (c *Client) transport(ctx context.Context, e endpoint, creds *Credentials, scopes ...string) (http.RoundTripper, error) {
	var opts []name.Option
	insecure := e.scheme == "http" || c.insecure(e.host)
	if insecure {
		opts = append(opts, name.Insecure)
	}
	reg, err := name.NewRegistry(e.host, opts...)
	if err != nil {
		return nil, errdefs.InvalidArgument("registry %q: %v", e.host, err)
	}
	key := e.host + "|" + strings.Join(scopes, " ") + "|" + credKey(creds)
	c.mu.Lock()
	rt, ok := c.cache[key]
	c.mu.Unlock()
	if ok {
		return rt, nil
	}
	base := c.secure
	if insecure {
		base = c.relaxed
	}
	rt, err = transport.NewWithContext(ctx, reg, creds.authenticator(), base, scopes)
	if err != nil {
		return nil, classify(fmt.Errorf("%s: %w", e.host, err))
	}
	c.mu.Lock()
	c.cache[key] = rt
	c.mu.Unlock()
	return rt, nil
}

func credKey(c *Credentials) string {
	if c == nil {
		return "anon"
	}
	h := sha256.Sum256([]byte(c.Username + "\x00" + c.Password + "\x00" + c.IdentityToken + "\x00" + c.RegistryToken))
	return hex.EncodeToString(h[:8])
}

// Forget drops cached transports (after a login changes credentials).
func (c *Client) Forget() {
	c.mu.Lock()
	c.cache = map[string]http.RoundTripper{}
	c.mu.Unlock()
}

// Login checks credentials against a registry (POST /auth).
func (c *Client) Login(ctx context.Context, host string, creds *Credentials) error {
	e := c.endpoints(host, true)[0]
	// A pull scope on a dummy repository makes token servers check the
	// password; basic-auth registries check it on the ping.
	rt, err := c.transport(ctx, e, creds, scope("berth-login-check", "pull"))
	if err != nil {
		return err
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.url("/v2/"), nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return classify(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return httpError(resp, "login to "+host)
	}
	return nil
}

// url builds a request URL. The ggcr transport rewrites https to http
// for this host when its ping found only plain HTTP (insecure hosts).
func (e endpoint) url(path string) string { return "https://" + e.host + path }
