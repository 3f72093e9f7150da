package registry

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"
)

// TokenService and TokenIssuer are the service and issuer names a token
// server started by WithTokenAuth uses (and the registry checks).
const (
	TokenService = "berth-test-registry"
	TokenIssuer  = "berth-test-token-issuer"
	tokenTTL     = 5 * time.Minute
	tokenPath    = "/token"
)

// tokenServer issues registry bearer tokens (distribution's token auth):
// GET with HTTP basic credentials, or the OAuth2 POST form with
// grant_type=password or refresh_token. Every authenticated caller is
// granted every scope it asks for.
type tokenServer struct {
	user, password string
	key            *ecdsa.PrivateKey
	certDER        []byte

	mu       sync.Mutex
	issued   int
	refresh  map[string]string // refresh token -> user
	requests []string
}

func newTokenServer(user, password string) (*tokenServer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: TokenIssuer},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return &tokenServer{user: user, password: password, key: key, certDER: der, refresh: map[string]string{}}, nil
}

// certPEM is the rootcertbundle the registry trusts.
func (s *tokenServer) certPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.certDER})
}

func (s *tokenServer) checkPassword(user, password string) bool {
	u := subtle.ConstantTimeCompare([]byte(user), []byte(s.user))
	p := subtle.ConstantTimeCompare([]byte(password), []byte(s.password))
	return u&p == 1
}

func (s *tokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r.Method+" "+r.URL.RequestURI())
	s.mu.Unlock()
	var (
		user   string
		scopes []string
		oauth  bool
	)
	switch r.Method {
	case http.MethodGet:
		u, p, ok := r.BasicAuth()
		if !ok {
			tokenError(w, http.StatusUnauthorized, "UNAUTHORIZED", "credentials required")
			return
		}
		if !s.checkPassword(u, p) {
			tokenError(w, http.StatusUnauthorized, "UNAUTHORIZED", "invalid username or password")
			return
		}
		user = u
		for _, sc := range r.URL.Query()["scope"] {
			scopes = append(scopes, strings.Fields(sc)...)
		}
	case http.MethodPost:
		if err := r.ParseForm(); err != nil {
			tokenError(w, http.StatusBadRequest, "invalid_request", err.Error())
			return
		}
		oauth = true
		switch r.PostForm.Get("grant_type") {
		case "password":
			if !s.checkPassword(r.PostForm.Get("username"), r.PostForm.Get("password")) {
				tokenError(w, http.StatusUnauthorized, "invalid_grant", "invalid username or password")
				return
			}
			user = r.PostForm.Get("username")
		case "refresh_token":
			s.mu.Lock()
			u, ok := s.refresh[r.PostForm.Get("refresh_token")]
			s.mu.Unlock()
			if !ok {
				tokenError(w, http.StatusUnauthorized, "invalid_grant", "unknown refresh token")
				return
			}
			user = u
		default:
			tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be password or refresh_token")
			return
		}
		scopes = strings.Fields(r.PostForm.Get("scope"))
	default:
		w.Header().Set("Allow", "GET, POST")
		tokenError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "method not allowed")
		return
	}
	if svc := r.FormValue("service"); svc != "" && svc != TokenService {
		tokenError(w, http.StatusBadRequest, "invalid_request", "unknown service "+svc)
		return
	}
	now := time.Now()
	tok, err := s.sign(user, scopes, now)
	if err != nil {
		tokenError(w, http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	resp := map[string]any{
		"token":        tok,
		"access_token": tok,
		"expires_in":   int(tokenTTL / time.Second),
		"issued_at":    now.UTC().Format(time.RFC3339),
	}
	if oauth {
		rt := randomHex(16)
		s.mu.Lock()
		s.refresh[rt] = user
		s.mu.Unlock()
		resp["refresh_token"] = rt
		resp["scope"] = strings.Join(scopes, " ")
	}
	s.mu.Lock()
	s.issued++
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

func tokenError(w http.ResponseWriter, code int, errCode, msg string) {
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="berth-test-token"`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"error":             errCode,
		"error_description": msg,
		"errors":            []map[string]string{{"code": errCode, "message": msg}},
	})
}

type accessEntry struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// parseScope reads "type:name:action,action"; the name may hold ':'
// (a registry host with a port), the type may hold "(class)".
func parseScope(s string) (accessEntry, bool) {
	first := strings.Index(s, ":")
	last := strings.LastIndex(s, ":")
	if first < 0 || first == last {
		return accessEntry{}, false
	}
	typ := s[:first]
	if i := strings.Index(typ, "("); i >= 0 {
		typ = typ[:i]
	}
	var actions []string
	for _, a := range strings.Split(s[last+1:], ",") {
		if a != "" {
			actions = append(actions, a)
		}
	}
	return accessEntry{Type: typ, Name: s[first+1 : last], Actions: actions}, true
}

// sign makes an ES256 JWT whose header carries the signing certificate as
// x5c, which distribution verifies against its rootcertbundle.
func (s *tokenServer) sign(user string, scopes []string, now time.Time) (string, error) {
	access := []accessEntry{}
	for _, sc := range scopes {
		if e, ok := parseScope(sc); ok {
			access = append(access, e)
		}
	}
	header := map[string]any{
		"typ": "JWT",
		"alg": "ES256",
		"x5c": []string{base64.StdEncoding.EncodeToString(s.certDER)},
	}
	claims := map[string]any{
		"iss":    TokenIssuer,
		"sub":    user,
		"aud":    TokenService,
		"exp":    now.Add(tokenTTL).Unix(),
		"nbf":    now.Add(-10 * time.Second).Unix(),
		"iat":    now.Unix(),
		"jti":    randomHex(12),
		"access": access,
	}
	hj, err := json.Marshal(header)
	if err != nil {
		return "", err
	}
	cj, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(hj) + "." + enc.EncodeToString(cj)
	sum := sha256.Sum256([]byte(input))
	r, sv, err := ecdsa.Sign(rand.Reader, s.key, sum[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	sv.FillBytes(sig[32:])
	return input + "." + enc.EncodeToString(sig), nil
}

func (s *tokenServer) stats() (issued int, requests []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issued, append([]string(nil), s.requests...)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return hex.EncodeToString(b)
}
