package dockerapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/storage"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/images"
	"github.com/berth-dev/berth/internal/reference"
	"github.com/berth-dev/berth/internal/registry"
)

func (s *Server) imageRoutes() {
	s.mux.HandleFunc("POST /images/create", s.imageCreate)
	s.mux.HandleFunc("GET /images/json", s.imageList)
	s.mux.HandleFunc("POST /images/load", s.imageLoad)
	s.mux.HandleFunc("GET /images/get", s.imageSaveMany)
	s.mux.HandleFunc("POST /images/prune", s.imagePrune)
	s.mux.HandleFunc("GET /images/search", notImplemented("image search"))
	// Image names contain slashes, so the rest is routed by suffix.
	s.mux.HandleFunc("/images/", s.imageByName)
}

func (s *Server) imageByName(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/images/")
	route := func(suffix string) (string, bool) {
		name, ok := strings.CutSuffix(rest, suffix)
		return name, ok && name != ""
	}
	switch r.Method {
	case http.MethodGet:
		if name, ok := route("/json"); ok {
			s.imageInspect(w, r, name)
			return
		}
		if name, ok := route("/history"); ok {
			s.imageHistory(w, r, name)
			return
		}
		if name, ok := route("/get"); ok {
			s.imageSave(w, r, []string{name})
			return
		}
	case http.MethodPost:
		if name, ok := route("/tag"); ok {
			s.imageTag(w, r, name)
			return
		}
		if name, ok := route("/push"); ok {
			s.imagePush(w, r, name)
			return
		}
	case http.MethodDelete:
		if rest != "" {
			s.imageDelete(w, r, rest)
			return
		}
	}
	writeError(w, errdefs.NotFound("page not found: %s %s", r.Method, r.URL.Path))
}

// registryAuth decodes X-Registry-Auth (base64url JSON AuthConfig).
func registryAuth(r *http.Request) (*registry.Credentials, error) {
	h := r.Header.Get("X-Registry-Auth")
	if h == "" {
		return nil, nil
	}
	raw, err := base64.URLEncoding.DecodeString(h)
	if err != nil {
		if raw, err = base64.StdEncoding.DecodeString(h); err != nil {
			raw, err = base64.RawURLEncoding.DecodeString(h)
		}
	}
	if err != nil {
		return nil, errdefs.InvalidArgument("invalid X-Registry-Auth header: %v", err)
	}
	var c struct {
		Username      string `json:"username"`
		Password      string `json:"password"`
		IdentityToken string `json:"identitytoken"`
		RegistryToken string `json:"registrytoken"`
	}
	if len(strings.TrimSpace(string(raw))) == 0 || string(raw) == "{}" {
		return nil, nil
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, errdefs.InvalidArgument("invalid X-Registry-Auth header: %v", err)
	}
	return &registry.Credentials{Username: c.Username, Password: c.Password, IdentityToken: c.IdentityToken, RegistryToken: c.RegistryToken}, nil
}

func (s *Server) imageCreate(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from := q.Get("fromImage")
	if from == "" {
		if q.Get("fromSrc") != "" {
			writeError(w, errdefs.NotImplemented("docker import is not supported yet"))
			return
		}
		writeError(w, errdefs.InvalidArgument("fromImage is required"))
		return
	}
	name := from
	if tag := q.Get("tag"); tag != "" {
		if strings.HasPrefix(tag, "sha256:") {
			name += "@" + tag
		} else {
			name += ":" + tag
		}
	}
	ref, err := reference.Parse(name)
	if err != nil {
		writeError(w, err)
		return
	}
	platform, err := images.ParsePlatform(q.Get("platform"))
	if err != nil {
		writeError(w, err)
		return
	}
	creds, err := registryAuth(r)
	if err != nil {
		writeError(w, err)
		return
	}
	ps := newProgressStream(w)
	// A client that goes away cancels its pull; layers already verified
	// stay in the store for the next attempt.
	_, err = s.Images.Pull(r.Context(), ref, images.PullOptions{Platform: platform, Creds: creds, Progress: ps.progress})
	if err != nil {
		ps.fail(err)
	}
}

func familiarTags(names []string) []string {
	out := []string{}
	for _, n := range names {
		if r, err := reference.Parse(n); err == nil {
			out = append(out, r.Familiar())
		}
	}
	slices.Sort(out)
	return out
}

func familiarDigests(ds []string) []string {
	out := []string{}
	for _, n := range ds {
		if r, err := reference.Parse(n); err == nil {
			out = append(out, r.Familiar())
		}
	}
	return out
}

func (s *Server) summary(ctx context.Context, sum images.Summary) image.Summary {
	labels := map[string]string{}
	if cfg, err := s.Images.Config(ctx, sum.Image); err == nil && cfg.Config.Labels != nil {
		labels = cfg.Config.Labels
	}
	desc := sum.Target
	return image.Summary{
		ID:          sum.ID.String(),
		RepoTags:    familiarTags(sum.RepoTags),
		RepoDigests: familiarDigests(sum.RepoDigests),
		Created:     sum.Created.Unix(),
		Size:        sum.Size,
		Labels:      labels,
		Containers:  -1,
		SharedSize:  -1,
		Descriptor:  &desc,
	}
}

func (s *Server) imageList(w http.ResponseWriter, r *http.Request) {
	f, err := filters(r)
	if err != nil {
		writeError(w, err)
		return
	}
	list, err := s.Images.List(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	out := []image.Summary{}
	for _, sum := range list {
		if !matchImage(f, sum) {
			continue
		}
		out = append(out, s.summary(r.Context(), sum))
	}
	writeJSON(w, http.StatusOK, out)
}

// matchImage applies the filters docker images supports.
func matchImage(f map[string][]string, sum images.Summary) bool {
	if vs, ok := f["dangling"]; ok {
		want := slices.Contains(vs, "true") || slices.Contains(vs, "1")
		if (len(sum.RepoTags) == 0) != want {
			return false
		}
	}
	if vs, ok := f["reference"]; ok {
		hit := false
		for _, pat := range vs {
			for _, t := range sum.RepoTags {
				r, _ := reference.Parse(t)
				if matchPattern(pat, r.Familiar()) || matchPattern(pat, r.FamiliarRepository()) || matchPattern(pat, t) {
					hit = true
				}
			}
		}
		if !hit {
			return false
		}
	}
	return true
}

// matchPattern is path.Match without the error (a bad pattern matches nothing).
func matchPattern(pat, s string) bool {
	ok, err := path.Match(pat, s)
	return err == nil && ok
}

func (s *Server) imageInspect(w http.ResponseWriter, r *http.Request, name string) {
	sum, err := s.Images.Get(r.Context(), name)
	if err != nil {
		writeError(w, err)
		return
	}
	raw, err := s.Images.RawConfig(r.Context(), sum.Image)
	if err != nil {
		writeError(w, err)
		return
	}
	var cfg dockerspec.DockerOCIImage
	if err := json.Unmarshal(raw, &cfg); err != nil {
		writeError(w, errdefs.Internal("image %s: config: %v", sum.ID, err))
		return
	}
	layers := []string{}
	for _, l := range sum.Layers {
		layers = append(layers, l.DiffID.String())
	}
	created := ""
	if cfg.Created != nil {
		created = cfg.Created.Format(time.RFC3339Nano)
	}
	desc := sum.Target
	resp := image.InspectResponse{
		ID:           sum.ID.String(),
		RepoTags:     familiarTags(sum.RepoTags),
		RepoDigests:  familiarDigests(sum.RepoDigests),
		Created:      created,
		Author:       cfg.Author,
		Config:       &cfg.Config,
		Architecture: cfg.Architecture,
		Variant:      cfg.Variant,
		Os:           cfg.OS,
		OsVersion:    cfg.OSVersion,
		Size:         sum.Size,
		GraphDriver:  &storage.DriverData{Name: "overlayfs", Data: map[string]string{}},
		RootFS:       image.RootFS{Type: "layers", Layers: layers},
		Metadata:     image.Metadata{LastTagTime: sum.Added},
		Descriptor:   &desc,
	}
	if len(cfg.History) > 0 {
		resp.Comment = cfg.History[len(cfg.History)-1].Comment
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) imageHistory(w http.ResponseWriter, r *http.Request, name string) {
	sum, err := s.Images.Get(r.Context(), name)
	if err != nil {
		writeError(w, err)
		return
	}
	cfg, err := s.Images.Config(r.Context(), sum.Image)
	if err != nil {
		writeError(w, err)
		return
	}
	hist := cfg.History
	if len(hist) == 0 {
		// Images built without history: one entry per layer.
		for range sum.Layers {
			hist = append(hist, ocispec.History{})
		}
	}
	out := []image.HistoryResponseItem{}
	layer := 0
	for _, h := range hist {
		item := image.HistoryResponseItem{ID: "<missing>", CreatedBy: h.CreatedBy, Comment: h.Comment, Tags: nil}
		if h.Created != nil {
			item.Created = h.Created.Unix()
		}
		if !h.EmptyLayer && layer < len(sum.Layers) {
			item.Size = sum.Layers[layer].Size
			layer++
		}
		out = append(out, item)
	}
	slices.Reverse(out)
	out[0].ID = sum.ID.String()
	out[0].Tags = familiarTags(sum.RepoTags)
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) imageTag(w http.ResponseWriter, r *http.Request, name string) {
	q := r.URL.Query()
	repo := q.Get("repo")
	if repo == "" {
		writeError(w, errdefs.InvalidArgument("repo is required"))
		return
	}
	target := repo
	if tag := q.Get("tag"); tag != "" {
		if err := reference.ParseTag(tag); err != nil {
			writeError(w, err)
			return
		}
		target += ":" + tag
	}
	if err := s.Images.Tag(r.Context(), name, target); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

func (s *Server) imageDelete(w http.ResponseWriter, r *http.Request, name string) {
	res, err := s.Images.Remove(r.Context(), name, boolParam(r, "force"))
	if err != nil {
		writeError(w, err)
		return
	}
	out := []image.DeleteResponse{}
	for _, u := range res.Untagged {
		out = append(out, image.DeleteResponse{Untagged: u})
	}
	for _, d := range res.Deleted {
		out = append(out, image.DeleteResponse{Deleted: d})
	}
	if len(res.Deleted) > 0 && !boolParam(r, "noprune") {
		if _, err := s.GC.Collect(r.Context()); err != nil {
			s.Log.Warn("gc after image removal", "err", err)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) imagePrune(w http.ResponseWriter, r *http.Request) {
	f, err := filters(r)
	if err != nil {
		writeError(w, err)
		return
	}
	all := slices.Contains(f["dangling"], "false") || slices.Contains(f["dangling"], "0")
	list, err := s.Images.List(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	report := image.PruneReport{ImagesDeleted: []image.DeleteResponse{}}
	for _, sum := range list {
		if len(sum.RepoTags) > 0 && !all {
			continue
		}
		if s.Images.InUse != nil && s.Images.InUse(sum.ID.String()) {
			continue
		}
		res, err := s.Images.Remove(r.Context(), sum.ID.String(), true)
		if err != nil {
			continue
		}
		for _, u := range res.Untagged {
			report.ImagesDeleted = append(report.ImagesDeleted, image.DeleteResponse{Untagged: u})
		}
		for _, d := range res.Deleted {
			report.ImagesDeleted = append(report.ImagesDeleted, image.DeleteResponse{Deleted: d})
		}
	}
	st, err := s.GC.Collect(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	report.SpaceReclaimed = uint64(st.Bytes)
	writeJSON(w, http.StatusOK, report)
}

func (s *Server) diskUsage(w http.ResponseWriter, r *http.Request) {
	list, err := s.Images.List(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	var total int64
	sums := []image.Summary{}
	for _, sum := range list {
		is := s.summary(r.Context(), sum)
		is.Containers = 0
		is.SharedSize = 0
		sums = append(sums, is)
		total += sum.Size
	}
	// The pre-1.52 shape, which current docker CLIs still read.
	writeJSON(w, http.StatusOK, map[string]any{
		"LayersSize": total, "Images": sums, "Containers": []any{}, "Volumes": []any{}, "BuildCache": []any{},
	})
}
