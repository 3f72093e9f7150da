package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
)

// Fault sees every request that reaches the proxy WithProxyFault puts in
// front of the registry. It returns true when it has answered the request
// itself (injected a fault), false to let the proxy forward it. A fault
// may also call Forward to pass the request on through a wrapped
// ResponseWriter, to damage the registry's real answer.
type Fault func(w http.ResponseWriter, r *http.Request) bool

// Matcher selects requests for a fault.
type Matcher func(r *http.Request) bool

type upstreamKey struct{}

// Forward sends r on to the registry behind the proxy (or the token
// server, for /token) and writes its answer to w. It works only on a request a Fault was given.
func Forward(w http.ResponseWriter, r *http.Request) {
	h, ok := r.Context().Value(upstreamKey{}).(http.Handler)
	if !ok {
		panic("registry.Forward called outside the fault proxy")
	}
	h.ServeHTTP(w, r)
}

// AnyRequest matches every request.
func AnyRequest(*http.Request) bool { return true }

// BlobGet matches GET /v2/<name>/blobs/<digest>.
func BlobGet(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/sha256:")
}

// ManifestGet matches GET /v2/<name>/manifests/<ref>.
func ManifestGet(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/manifests/")
}

// BlobUpload matches the requests of a blob upload (POST, PATCH, PUT on
// /blobs/uploads/).
func BlobUpload(r *http.Request) bool {
	return strings.Contains(r.URL.Path, "/blobs/uploads/")
}

// PathContains matches requests whose path contains s.
func PathContains(s string) Matcher {
	return func(r *http.Request) bool { return strings.Contains(r.URL.Path, s) }
}

// FailWith answers matching requests with status and a distribution-style
// JSON error body; a 429 or 503 also gets "Retry-After: 1".
func FailWith(status int, match Matcher) Fault {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if !match(r) {
			return false
		}
		if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		code := "UNKNOWN"
		if status == http.StatusTooManyRequests {
			code = "TOOMANYREQUESTS"
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{
			"code": code, "message": fmt.Sprintf("injected fault: %d %s", status, http.StatusText(status)),
		}}})
		return true
	}
}

// TruncateBody forwards matching requests but passes on only the first n
// bytes of the registry's body (headers, Content-Length included, are
// intact) and then drops the connection.
func TruncateBody(n int64, match Matcher) Fault {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if !match(r) {
			return false
		}
		Forward(&truncWriter{ResponseWriter: w, left: n}, r)
		_ = http.NewResponseController(w).Flush() // headers and the n bytes go out
		panic(http.ErrAbortHandler)               // then the connection is cut, even a chunked one
	}
}

type truncWriter struct {
	http.ResponseWriter
	left int64
}

func (t *truncWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }

func (t *truncWriter) Write(p []byte) (int, error) {
	n := len(p)
	if int64(len(p)) > t.left {
		p = p[:t.left]
	}
	if len(p) > 0 {
		if _, err := t.ResponseWriter.Write(p); err != nil {
			return 0, err
		}
		t.left -= int64(len(p))
	}
	return n, nil // swallow the rest so the proxy reads the upstream body to its end
}

// CorruptBody forwards matching requests with one byte of the body
// flipped (the middle one when the length is known, the first
// otherwise): same length, wrong digest.
func CorruptBody(match Matcher) Fault {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if !match(r) {
			return false
		}
		Forward(&corruptWriter{ResponseWriter: w, at: -1}, r)
		return true
	}
}

type corruptWriter struct {
	http.ResponseWriter
	at, off int64
}

func (c *corruptWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

func (c *corruptWriter) WriteHeader(code int) {
	if n, err := strconv.ParseInt(c.Header().Get("Content-Length"), 10, 64); err == nil && n > 0 {
		c.at = n / 2
	} else {
		c.at = 0
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *corruptWriter) Write(p []byte) (int, error) {
	if c.at < 0 {
		c.WriteHeader(http.StatusOK)
	}
	if c.at >= c.off && c.at < c.off+int64(len(p)) {
		q := append([]byte(nil), p...)
		q[c.at-c.off] ^= 0xff
		p = q
	}
	c.off += int64(len(p))
	return c.ResponseWriter.Write(p)
}

// Times injects f's faults only n times (counting the requests f
// answered); after that every request goes through.
func Times(n int, f Fault) Fault {
	var mu sync.Mutex
	done := 0
	count := func() {
		mu.Lock()
		done++
		mu.Unlock()
	}
	return func(w http.ResponseWriter, r *http.Request) (answered bool) {
		mu.Lock()
		spent := done >= n
		mu.Unlock()
		if spent {
			return false
		}
		// Faults that cut the connection answer by panicking with
		// http.ErrAbortHandler; they count too.
		defer func() {
			if p := recover(); p != nil {
				count()
				panic(p)
			}
			if answered {
				count()
			}
		}()
		return f(w, r)
	}
}

// faultProxy is the front server: it gives every request to the fault
// first, then serves /token itself when there is a token server and
// forwards the rest to the registry.
type faultProxy struct {
	rp    *httputil.ReverseProxy
	token http.Handler
	fault Fault

	mu  sync.Mutex
	log []string
}

func newFaultProxy(backend string, fault Fault, token http.Handler, errLog *log.Logger) *faultProxy {
	target := &url.URL{Scheme: "http", Host: backend}
	p := &faultProxy{fault: fault, token: token}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host // the registry builds Location URLs from it
		},
		Transport:     Transport(),
		FlushInterval: -1,
		ErrorLog:      errLog,
	}
	return p
}

// upstream serves a request the fault let through.
func (p *faultProxy) upstream(w http.ResponseWriter, r *http.Request) {
	if p.token != nil && r.URL.Path == tokenPath {
		p.token.ServeHTTP(w, r)
		return
	}
	p.rp.ServeHTTP(w, r)
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.log = append(p.log, r.Method+" "+r.URL.RequestURI())
	p.mu.Unlock()
	r = r.WithContext(context.WithValue(r.Context(), upstreamKey{}, http.HandlerFunc(p.upstream)))
	if p.fault != nil && p.fault(w, r) {
		return
	}
	p.upstream(w, r)
}

func (p *faultProxy) requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.log...)
}
