package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// The docker CLI's key for Docker Hub credentials.
const hubAuthKey = "https://index.docker.io/v1/"

// authEntry is one registry's entry in config.json.
type authEntry struct {
	Auth          string `json:"auth,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
}

// dockerConfig reads and writes ~/.docker/config.json, keeping fields it
// does not know.
type dockerConfig struct {
	path string
	raw  map[string]json.RawMessage
	auth map[string]authEntry
}

func loadDockerConfig(dir string) (*dockerConfig, error) {
	c := &dockerConfig{path: filepath.Join(dir, "config.json"), raw: map[string]json.RawMessage{}, auth: map[string]authEntry{}}
	b, err := os.ReadFile(c.path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &c.raw); err != nil {
		return nil, errors.New(c.path + ": " + err.Error())
	}
	if a, ok := c.raw["auths"]; ok {
		json.Unmarshal(a, &c.auth)
	}
	return c, nil
}

func (c *dockerConfig) save() error {
	a, _ := json.Marshal(c.auth)
	c.raw["auths"] = a
	b, err := json.MarshalIndent(c.raw, "", "\t")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(c.path), 0o700); err != nil {
		return err
	}
	tmp := c.path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, c.path)
}

// authKey is the config.json key for a registry host.
func authKey(host string) string {
	if host == "" || host == defaultDomain || host == "index.docker.io" || host == "registry-1.docker.io" {
		return hubAuthKey
	}
	return host
}

// registryAuthHeader returns the X-Registry-Auth value for host ("" if
// no credentials are stored).
func (c *dockerConfig) registryAuthHeader(host string) string {
	e, ok := c.auth[authKey(host)]
	if !ok {
		// Keys may be stored as URLs ("https://host").
		for k, v := range c.auth {
			if strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(k, "https://"), "http://"), "/") == host {
				e, ok = v, true
			}
		}
	}
	if !ok {
		return ""
	}
	var user, pass string
	if raw, err := base64.StdEncoding.DecodeString(e.Auth); err == nil {
		user, pass, _ = strings.Cut(string(raw), ":")
	}
	b, _ := json.Marshal(map[string]string{"username": user, "password": pass, "identitytoken": e.IdentityToken, "serveraddress": host})
	return base64.URLEncoding.EncodeToString(b)
}
