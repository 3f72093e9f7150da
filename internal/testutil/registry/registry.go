// Package registry holds the image-side test fixtures: the real
// distribution registry (Debian's docker-registry) on a loopback port,
// with optional basic or token auth and a fault-injecting proxy, and
// builders for images made at test time from Debian's static busybox.
//
// The builders (NewBusyboxImage, NewLayer, NewIndex, NewBigImage,
// PushArtifact, WriteDockerArchive, WriteOCILayout) are plain functions
// returning errors, usable outside tests (bench/imagegen); BusyboxImage,
// LayerFromFiles, MultiArch, BigImage, Push, SaveDockerArchive and
// SaveOCILayout are their testing wrappers.
package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"golang.org/x/crypto/bcrypt"
)

// Binary is Debian's distribution registry (package docker-registry).
const Binary = "/usr/bin/docker-registry"

// Registry is a running docker-registry.
type Registry struct {
	// Host is "127.0.0.1:port", where clients connect: the front proxy
	// when there is one (WithProxyFault, WithTokenAuth), the registry
	// itself otherwise.
	Host string
	// URL is "http://" + Host.
	URL string
	// Backend is the registry's own address, behind the proxy if any.
	Backend string
	// Dir holds the config, the storage root (Dir/storage) and the log.
	Dir string
	// LogFile is the registry's (and the proxy's) log.
	LogFile string
	// User and Password are the credentials WithBasicAuth or
	// WithTokenAuth set ("" for an open registry).
	User, Password string
	// TokenRealm is the token server's URL with WithTokenAuth.
	TokenRealm string

	cmd   *exec.Cmd
	done  chan struct{}
	token *tokenServer
	proxy *faultProxy
}

// Option configures Start.
type Option func(*startOptions)

type startOptions struct {
	basic, token bool
	user, pass   string
	fault        Fault
	proxy        bool
}

// WithBasicAuth protects the registry with htpasswd (bcrypt) basic auth.
func WithBasicAuth(user, password string) Option {
	return func(o *startOptions) { o.basic, o.token, o.user, o.pass = true, false, user, password }
}

// WithTokenAuth makes the registry use token auth. A token server runs
// in-process, served at /token by a front proxy on Host, since clients
// (go-containerregistry among them) refuse a token realm on another
// loopback address than the registry's. It takes user/password as HTTP
// basic credentials on GET (or the OAuth2 POST form, grant_type password
// or refresh_token) and grants every scope asked for, in ES256 JWTs
// carrying their certificate as x5c (trusted by the registry through its
// rootcertbundle). Requests without a token get 401 and
// `WWW-Authenticate: Bearer realm="http://<Host>/token",service=...`.
func WithTokenAuth(user, password string) Option {
	return func(o *startOptions) { o.token, o.basic, o.user, o.pass = true, false, user, password }
}

// WithProxyFault puts a reverse proxy in front of the registry (Host then
// points at it; Backend is the registry itself) that gives f every
// request first, /token ones included; f may be nil for a plain proxy
// whose request log (Requests) tests can read.
func WithProxyFault(f func(w http.ResponseWriter, r *http.Request) bool) Option {
	return func(o *startOptions) { o.proxy, o.fault = true, f }
}

// Available reports why docker-registry cannot run here ("" if it can).
func Available() string {
	if _, err := os.Stat(Binary); err != nil {
		return fmt.Sprintf("%s not found (Debian package docker-registry): %v", Binary, err)
	}
	return ""
}

// Start runs docker-registry on a free loopback port with a config
// generated in t.TempDir() (filesystem storage, delete enabled), waits
// until GET /v2/ answers and stops it when the test ends. The log is
// printed if the test fails. Start skips the test when docker-registry is
// not installed.
func Start(t testing.TB, opts ...Option) *Registry {
	t.Helper()
	if why := Available(); why != "" {
		t.Skip(why)
	}
	var o startOptions
	for _, opt := range opts {
		opt(&o)
	}
	dir := t.TempDir()
	r := &Registry{Dir: dir, LogFile: filepath.Join(dir, "registry.log")}
	if o.basic || o.token {
		r.User, r.Password = o.user, o.pass
	}
	logf, err := os.OpenFile(r.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		logf.Close()
		if t.Failed() {
			t.Logf("docker-registry log (%s):\n%s", r.LogFile, tail(r.LogFile, 64<<10))
		}
	})

	// The front server: the fault proxy, which also serves the token
	// realm on the registry's own host:port (clients refuse a realm on
	// another loopback address).
	var front *httptest.Server
	var ts *tokenServer
	if o.proxy || o.token {
		front = httptest.NewUnstartedServer(nil) // the listener exists already
		t.Cleanup(front.Close)
		r.Host = front.Listener.Addr().String()
	}

	auth := ""
	switch {
	case o.basic:
		hash, err := bcrypt.GenerateFromPassword([]byte(o.pass), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(o.user+":"+string(hash)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: %s\n    path: %s\n", yq("berth-test-registry"), yq(htpasswd))
	case o.token:
		if ts, err = newTokenServer(o.user, o.pass); err != nil {
			t.Fatal(err)
		}
		r.token = ts
		r.TokenRealm = "http://" + r.Host + tokenPath
		bundle := filepath.Join(dir, "token-root.pem")
		if err := os.WriteFile(bundle, ts.certPEM(), 0o644); err != nil {
			t.Fatal(err)
		}
		auth = fmt.Sprintf("auth:\n  token:\n    realm: %s\n    service: %s\n    issuer: %s\n    rootcertbundle: %s\n",
			yq(r.TokenRealm), yq(TokenService), yq(TokenIssuer), yq(bundle))
	}

	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		r.Backend = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if lastErr = r.launch(logf, auth); lastErr == nil {
			break
		}
		if !strings.Contains(lastErr.Error(), "address already in use") {
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("docker-registry did not start: %v\nlog:\n%s", lastErr, tail(r.LogFile, 16<<10))
	}
	t.Cleanup(r.stop)

	if front == nil {
		r.Host = r.Backend
	} else {
		var th http.Handler
		if ts != nil {
			th = ts
		}
		r.proxy = newFaultProxy(r.Backend, o.fault, th, log.New(&lockedWriter{w: logf}, "front: ", log.LstdFlags))
		front.Config.Handler = r.proxy
		front.Start()
	}
	r.URL = "http://" + r.Host
	return r
}

// launch writes the config, starts the process and waits for /v2/.
func (r *Registry) launch(logf *os.File, auth string) error {
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: info
  formatter: text
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
  secret: %s
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: false
%s`, yq(filepath.Join(r.Dir, "storage")), yq(r.Backend), yq(randomHex(16)), auth)
	cfgPath := filepath.Join(r.Dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return err
	}
	cmd := exec.Command(Binary, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = r.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	for _, e := range os.Environ() {
		// REGISTRY_* variables would override the config.
		if !strings.HasPrefix(e, "REGISTRY_") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	fmt.Fprintf(logf, "--- %s serve %s (addr %s)\n", Binary, cfgPath, r.Backend)
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	r.cmd, r.done = cmd, done

	client := &http.Client{Transport: Transport(), Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get("http://" + r.Backend + "/v2/")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-done:
			if strings.Contains(tail(r.LogFile, 4<<10), "address already in use") {
				return errors.New("address already in use")
			}
			return fmt.Errorf("docker-registry exited: %v", cmd.ProcessState)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.stop()
			return fmt.Errorf("no answer on http://%s/v2/ after 30s: %v", r.Backend, err)
		}
	}
}

func (r *Registry) stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	select {
	case <-r.done:
		return
	default:
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
}

// Ref is Host + "/" + repo (e.g. "busybox:latest", "a/b@sha256:...").
func (r *Registry) Ref(repo string) string { return r.Host + "/" + repo }

// Auth is the authenticator for the registry's credentials (anonymous
// for an open registry).
func (r *Registry) Auth() authn.Authenticator {
	if r.User == "" && r.Password == "" {
		return authn.Anonymous
	}
	return &authn.Basic{Username: r.User, Password: r.Password}
}

// Requests lists "METHOD /path?query" of every request the front proxy
// saw, in order (nil when there is none: without WithProxyFault and
// WithTokenAuth).
func (r *Registry) Requests() []string {
	if r.proxy == nil {
		return nil
	}
	return r.proxy.requests()
}

// TokenRequests lists "METHOD /token?query" of every request the token
// server saw and how many tokens it issued (nil, 0 without WithTokenAuth).
func (r *Registry) TokenRequests() (requests []string, issued int) {
	if r.token == nil {
		return nil, 0
	}
	issued, requests = r.token.stats()
	return requests, issued
}

// Log returns the registry's log so far.
func (r *Registry) Log() string {
	b, _ := os.ReadFile(r.LogFile)
	return string(b)
}

// WaitReady polls GET /v2/ through Host until it answers or ctx ends.
func (r *Registry) WaitReady(ctx context.Context) error {
	client := &http.Client{Transport: Transport()}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.URL+"/v2/", nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// yq quotes s as a YAML double-quoted scalar.
func yq(s string) string { return strconv.Quote(s) }

func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > n {
		_, _ = f.Seek(fi.Size()-n, io.SeekStart)
	}
	var b bytes.Buffer
	_, _ = io.Copy(&b, f)
	return b.String()
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
