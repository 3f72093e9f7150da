package dockerapi

import (
	"net/http"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/reference"
	"github.com/berth-dev/berth/internal/registry"
)

// auth checks credentials against a registry (docker login).
func (s *Server) auth(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Username      string `json:"username"`
		Password      string `json:"password"`
		ServerAddress string `json:"serveraddress"`
		IdentityToken string `json:"identitytoken"`
	}
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if req.Username == "" && req.IdentityToken == "" {
		writeError(w, errdefs.InvalidArgument("username is required"))
		return
	}
	host := normalizeServer(req.ServerAddress)
	creds := &registry.Credentials{Username: req.Username, Password: req.Password, IdentityToken: req.IdentityToken}
	if err := s.Images.Registry.Login(r.Context(), host, creds); err != nil {
		if errdefs.IsPermissionDenied(err) {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "login attempt to " + host + " failed: unauthorized: incorrect username or password"})
			return
		}
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"Status": "Login Succeeded"})
}

// normalizeServer turns docker's server address forms into a host.
func normalizeServer(s string) string {
	switch s {
	case "", "https://index.docker.io/v1/", "index.docker.io", "docker.io":
		return reference.DefaultDomain
	}
	for _, p := range []string{"https://", "http://"} {
		if len(s) > len(p) && s[:len(p)] == p {
			s = s[len(p):]
		}
	}
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	if i := indexByte(s, '/'); i >= 0 {
		s = s[:i]
	}
	return s
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}
