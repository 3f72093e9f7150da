// Package dockerapi serves the Docker Engine API over HTTP, so the docker
// CLI, compose and the SDKs drive Berth. Routes translate to service calls;
// errors map to statuses in one place (errdefs.HTTPStatus).
package dockerapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/events"
	"github.com/berth-dev/berth/internal/gc"
	"github.com/berth-dev/berth/internal/images"
	"github.com/berth-dev/berth/internal/network"
	"github.com/berth-dev/berth/internal/volume"
)

// API versions this server speaks.
const (
	APIVersion    = "1.51"
	MinAPIVersion = "1.24"
)

// Server holds the services the routes call.
type Server struct {
	Images     *images.Service
	Containers *container.Service
	Volumes    *volume.Store
	Networks   *network.Manager
	Events     *events.Hub
	GC         *gc.Collector
	Log        *slog.Logger
	Version    string
	Root       string // data root, reported by /info
	Started    time.Time

	mux *http.ServeMux
}

// Handler returns the API's HTTP handler.
func (s *Server) Handler() http.Handler {
	s.mux = http.NewServeMux()
	s.systemRoutes()
	s.imageRoutes()
	if s.Containers != nil {
		s.containerRoutes()
		s.execRoutes()
		s.archiveRoutes()
	}
	if s.Volumes != nil {
		s.volumeRoutes()
	}
	if s.Networks != nil && s.Containers != nil {
		s.networkRoutes()
	}
	return http.HandlerFunc(s.serve)
}

var versionPrefix = regexp.MustCompile(`^/v(\d+)\.(\d+)(/.*)$`)

// serve strips the /v1.NN prefix, checks the version, and dispatches.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if m := versionPrefix.FindStringSubmatch(r.URL.Path); m != nil {
		v := m[1] + "." + m[2]
		if compareVersions(v, MinAPIVersion) < 0 {
			writeError(w, errdefs.InvalidArgument("client version %s is too old. Minimum supported API version is %s, please upgrade your client to a newer version", v, MinAPIVersion))
			return
		}
		if compareVersions(v, APIVersion) > 0 {
			writeError(w, errdefs.InvalidArgument("client version %s is too new. Maximum supported API version is %s", v, APIVersion))
			return
		}
		r.URL.Path = m[3]
		r.URL.RawPath = ""
	}
	w.Header().Set("Api-Version", APIVersion)
	w.Header().Set("Docker-Experimental", "false")
	w.Header().Set("Ostype", "linux")
	w.Header().Set("Server", "Berth/"+s.Version+" (linux)")
	s.mux.ServeHTTP(w, r)
	s.Log.Debug("api", "method", r.Method, "path", r.URL.Path, "took", time.Since(start))
}

func compareVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := range max(len(pa), len(pb)) {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// writeJSON sends v with status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// writeError sends the Docker error body {"message": ...}.
func writeError(w http.ResponseWriter, err error) {
	writeJSON(w, errdefs.HTTPStatus(err), map[string]string{"message": err.Error()})
}

// boolParam reads a query flag as Docker does ("1", "true", "True").
func boolParam(r *http.Request, name string) bool {
	v := strings.ToLower(r.URL.Query().Get(name))
	return v == "1" || v == "true" || v == "yes"
}

// filters decodes the JSON "filters" query parameter: {"key":{"v":true}}
// or the older {"key":["v"]}.
func filters(r *http.Request) (map[string][]string, error) {
	raw := r.URL.Query().Get("filters")
	out := map[string][]string{}
	if raw == "" {
		return out, nil
	}
	var m map[string]map[string]bool
	if err := json.Unmarshal([]byte(raw), &m); err == nil {
		for k, vs := range m {
			for v, on := range vs {
				if on {
					out[k] = append(out[k], v)
				}
			}
		}
		return out, nil
	}
	var l map[string][]string
	if err := json.Unmarshal([]byte(raw), &l); err != nil {
		return nil, errdefs.InvalidArgument("invalid filters %q: %v", raw, err)
	}
	return l, nil
}

// decodeBody reads a JSON request body with a size cap.
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 4<<20))
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errdefs.InvalidArgument("request body exceeds %d bytes", mbe.Limit)
		}
		return errdefs.InvalidArgument("invalid JSON body: %v", err)
	}
	return nil
}

func notImplemented(what string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errdefs.NotImplemented("%s is not supported by berthd", what))
	}
}
