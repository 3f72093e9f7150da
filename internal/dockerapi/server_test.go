package dockerapi

import (
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/errdefs"
)

func TestRegistryAuth(t *testing.T) {
	enc := func(s string) string { return base64.URLEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		header   string
		user     string
		nilCreds bool
		err      bool
	}{
		{"", "", true, false},
		{enc(`{}`), "", true, false},
		{enc(`{"username":"u","password":"p","serveraddress":"h"}`), "u", false, false},
		{base64.StdEncoding.EncodeToString([]byte(`{"username":"std"}`)), "std", false, false},
		{"!!!not base64", "", true, true},
		{enc(`{"username":`), "", true, true},
	}
	for _, tc := range tests {
		r := httptest.NewRequest("POST", "/images/create", nil)
		if tc.header != "" {
			r.Header.Set("X-Registry-Auth", tc.header)
		}
		c, err := registryAuth(r)
		if (err != nil) != tc.err || (err != nil && !errdefs.IsInvalidArgument(err)) {
			t.Errorf("%q: err %v", tc.header, err)
		}
		if (c == nil) != tc.nilCreds || (c != nil && c.Username != tc.user) {
			t.Errorf("%q: creds %+v", tc.header, c)
		}
	}
}

func TestFiltersAndVersions(t *testing.T) {
	for raw, want := range map[string]string{
		`{"dangling":{"true":true}}`: "true",
		`{"dangling":["true"]}`:      "true",
	} {
		r := httptest.NewRequest("GET", "/images/json?filters="+url.QueryEscape(raw), nil)
		f, err := filters(r)
		if err != nil || len(f["dangling"]) != 1 || f["dangling"][0] != want {
			t.Errorf("%s: %v %v", raw, f, err)
		}
	}
	r := httptest.NewRequest("GET", "/images/json?filters="+url.QueryEscape("{bad"), nil)
	if _, err := filters(r); !errdefs.IsInvalidArgument(err) {
		t.Errorf("bad filters: %v", err)
	}
	if compareVersions("1.41", "1.51") >= 0 || compareVersions("1.9", "1.24") >= 0 || compareVersions("1.51", "1.51") != 0 {
		t.Error("compareVersions")
	}
	s := &Server{Log: slog.New(slog.DiscardHandler)}
	s.mux = http.NewServeMux()
	s.systemRoutes()
	for path, code := range map[string]int{"/v1.99/_ping": 400, "/v1.12/_ping": 400, "/v1.41/_ping": 200, "/_ping": 200} {
		w := httptest.NewRecorder()
		s.serve(w, httptest.NewRequest("GET", path, nil))
		if w.Code != code {
			t.Errorf("%s: %d, want %d (%s)", path, w.Code, code, w.Body)
		}
	}
}

// FuzzRequestInputs feeds untrusted request parts (X-Registry-Auth,
// filters, event times, image paths) to their parsers.
func FuzzRequestInputs(f *testing.F) {
	f.Add("eyJ1c2VybmFtZSI6InUifQ==", `{"dangling":{"true":true}}`, "1700000000.5", "/images/a/b:c/json")
	f.Add("", `{"a":["b"]}`, "10m", "/images/x/push")
	f.Fuzz(func(t *testing.T, auth, filt, when, path string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("X-Registry-Auth", auth)
		r.URL.RawQuery = url.Values{"filters": {filt}}.Encode()
		if _, err := registryAuth(r); err != nil && !errdefs.IsInvalidArgument(err) {
			t.Fatalf("auth: unclassed %v", err)
		}
		if _, err := filters(r); err != nil && !errdefs.IsInvalidArgument(err) {
			t.Fatalf("filters: unclassed %v", err)
		}
		if _, err := parseEventTime(when); err != nil && !errdefs.IsInvalidArgument(err) {
			t.Fatalf("time: unclassed %v", err)
		}
		_ = normalizeServer(path)
		if strings.Contains(normalizeServer(path), "/") {
			t.Fatalf("normalizeServer(%q) kept a path", path)
		}
	})
}
