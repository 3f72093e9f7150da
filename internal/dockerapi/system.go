package dockerapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/system"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/events"
)

func (s *Server) systemRoutes() {
	ping := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache, no-store, must-revalidate")
		w.Header().Set("Pragma", "no-cache")
		w.Header().Set("Builder-Version", "1")
		w.Header().Set("Swarm", "inactive")
		if r.Method == http.MethodHead {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Content-Length", "0")
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("OK"))
	}
	s.mux.HandleFunc("GET /_ping", ping)
	s.mux.HandleFunc("HEAD /_ping", ping)
	s.mux.HandleFunc("GET /version", s.version)
	s.mux.HandleFunc("GET /info", s.info)
	s.mux.HandleFunc("GET /events", s.events)
	s.mux.HandleFunc("GET /system/df", s.diskUsage)
	s.mux.HandleFunc("POST /auth", s.auth)
}

func kernelVersion() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

func (s *Server) version(w http.ResponseWriter, r *http.Request) {
	v := system.VersionResponse{
		Platform:      system.PlatformInfo{Name: "Berth Engine"},
		Version:       s.Version,
		APIVersion:    APIVersion,
		MinAPIVersion: MinAPIVersion,
		Os:            runtime.GOOS,
		Arch:          runtime.GOARCH,
		GoVersion:     runtime.Version(),
		KernelVersion: kernelVersion(),
		Components: []system.ComponentVersion{
			{Name: "Engine", Version: s.Version, Details: map[string]string{
				"ApiVersion": APIVersion, "MinAPIVersion": MinAPIVersion, "Os": runtime.GOOS, "Arch": runtime.GOARCH,
				"GoVersion": runtime.Version(), "KernelVersion": kernelVersion(),
			}},
			{Name: "berth-oci", Version: s.Version},
		},
	}
	writeJSON(w, http.StatusOK, v)
}

func osRelease() string {
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return "Linux"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return "Linux"
}

func cgroupVersion() string {
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return "2"
	}
	return "1"
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	list, err := s.Images.List(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	var si unix.Sysinfo_t
	unix.Sysinfo(&si)
	host, _ := os.Hostname()
	arch := runtime.GOARCH
	if arch == "amd64" {
		arch = "x86_64"
	}
	fds, _ := os.ReadDir("/proc/self/fd")
	cfg := &registry.ServiceConfig{IndexConfigs: map[string]*registry.IndexInfo{}}
	info := system.Info{
		ID:                 "berth",
		Images:             len(list),
		Driver:             "overlayfs",
		DriverStatus:       [][2]string{{"driver-type", "io.containerd.snapshotter.v1"}},
		MemoryLimit:        true,
		SwapLimit:          true,
		CPUCfsPeriod:       true,
		CPUCfsQuota:        true,
		CPUShares:          true,
		CPUSet:             true,
		PidsLimit:          true,
		IPv4Forwarding:     true,
		NFd:                len(fds),
		NGoroutines:        runtime.NumGoroutine(),
		SystemTime:         time.Now().Format(time.RFC3339Nano),
		LoggingDriver:      "json-file",
		CgroupDriver:       "cgroupfs",
		CgroupVersion:      cgroupVersion(),
		KernelVersion:      kernelVersion(),
		OperatingSystem:    osRelease(),
		OSType:             "linux",
		Architecture:       arch,
		IndexServerAddress: "https://index.docker.io/v1/",
		RegistryConfig:     cfg,
		NCPU:               runtime.NumCPU(),
		MemTotal:           int64(si.Totalram) * int64(si.Unit),
		DockerRootDir:      s.Root,
		Name:               host,
		ServerVersion:      s.Version,
		Runtimes:           map[string]system.RuntimeWithStatus{"berth-oci": {Runtime: system.Runtime{Path: "berth-oci"}}},
		DefaultRuntime:     "berth-oci",
		Isolation:          "",
		SecurityOptions:    []string{"name=seccomp,profile=builtin"},
		CDISpecDirs:        []string{},
	}
	writeJSON(w, http.StatusOK, info)
}

// eventMessage carries both the current fields and the legacy status/id/
// from trio that older clients read.
type eventMessage struct {
	Status string `json:"status,omitempty"`
	ID     string `json:"id,omitempty"`
	From   string `json:"from,omitempty"`
	Type   string
	Action string
	Actor  struct {
		ID         string
		Attributes map[string]string
	}
	Scope    string `json:"scope"`
	Time     int64  `json:"time"`
	TimeNano int64  `json:"timeNano"`
}

func parseEventTime(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if sec, frac, ok := strings.Cut(v, "."); ok || !strings.ContainsAny(v, "-:T") {
		s, err := strconv.ParseInt(sec, 10, 64)
		if err == nil {
			ns := int64(0)
			if ok {
				frac = (frac + "000000000")[:9]
				ns, _ = strconv.ParseInt(frac, 10, 64)
			}
			return time.Unix(s, ns), nil
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		return time.Now().Add(-d), nil
	}
	return time.Time{}, errdefs.InvalidArgument("invalid time %q: want a Unix timestamp, RFC 3339 date or duration", v)
}

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	since, err := parseEventTime(q.Get("since"))
	if err != nil {
		writeError(w, err)
		return
	}
	until, err := parseEventTime(q.Get("until"))
	if err != nil {
		writeError(w, err)
		return
	}
	f, err := filters(r)
	if err != nil {
		writeError(w, err)
		return
	}
	ctx := r.Context()
	if !until.IsZero() {
		var cancel func()
		ctx, cancel = contextUntil(ctx, until)
		defer cancel()
	}
	past, live := s.Events.Subscribe(ctx, since)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush()
	}
	emit := func(e events.Event) bool {
		if !until.IsZero() && e.Time.After(until) {
			return false
		}
		if !matchEvent(f, e) {
			return true
		}
		m := eventMessage{Type: e.Type, Action: e.Action, Scope: "local", Time: e.Time.Unix(), TimeNano: e.Time.UnixNano()}
		m.Actor.ID, m.Actor.Attributes = e.ID, e.Attributes
		if e.Type == "container" || e.Type == "image" {
			m.Status, m.ID, m.From = e.Action, e.ID, e.Attributes["image"]
		}
		var buf bytes.Buffer
		json.NewEncoder(&buf).Encode(m)
		w.Write(buf.Bytes())
		if flusher != nil {
			flusher.Flush()
		}
		return true
	}
	for _, e := range past {
		if !emit(e) {
			return
		}
	}
	for e := range live {
		if !emit(e) {
			return
		}
	}
}

func matchEvent(f map[string][]string, e events.Event) bool {
	check := func(key, val string) bool {
		vs, ok := f[key]
		if !ok {
			return true
		}
		for _, v := range vs {
			if v == val {
				return true
			}
		}
		return false
	}
	if !check("type", e.Type) || !check("event", e.Action) {
		return false
	}
	if vs, ok := f[e.Type]; ok {
		for _, v := range vs {
			if v == e.ID || v == e.Attributes["name"] {
				return true
			}
		}
		return false
	}
	return true
}
