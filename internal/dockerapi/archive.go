package dockerapi

import (
	"encoding/base64"
	"encoding/json"
	"net/http"

	ctr "github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/errdefs"
)

func (s *Server) archiveRoutes() {
	s.mux.HandleFunc("HEAD /containers/{id}/archive", s.archiveHead)
	s.mux.HandleFunc("GET /containers/{id}/archive", s.archiveGet)
	s.mux.HandleFunc("PUT /containers/{id}/archive", s.archivePut)
	s.mux.HandleFunc("GET /containers/{id}/export", s.containerExport)
	s.mux.HandleFunc("GET /containers/{id}/changes", s.containerChanges)
}

func setPathStat(w http.ResponseWriter, st ctr.PathStat) {
	b, _ := json.Marshal(st)
	w.Header().Set("X-Docker-Container-Path-Stat", base64.StdEncoding.EncodeToString(b))
}

func pathParam(r *http.Request) (string, error) {
	p := r.URL.Query().Get("path")
	if p == "" {
		return "", errdefs.InvalidArgument("path is required")
	}
	return p, nil
}

func (s *Server) archiveHead(w http.ResponseWriter, r *http.Request) {
	p, err := pathParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	st, err := s.Containers.StatPath(r.Context(), r.PathValue("id"), p)
	if err != nil {
		w.WriteHeader(errdefs.HTTPStatus(err))
		return
	}
	setPathStat(w, st)
	w.WriteHeader(http.StatusOK)
}

func (s *Server) archiveGet(w http.ResponseWriter, r *http.Request) {
	p, err := pathParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	started := false
	err = s.Containers.CopyFrom(r.Context(), r.PathValue("id"), p, w, func(st ctr.PathStat) {
		setPathStat(w, st)
		w.Header().Set("Content-Type", "application/x-tar")
		w.WriteHeader(http.StatusOK)
		started = true
	})
	if err != nil && !started {
		writeError(w, err)
	}
}

func (s *Server) archivePut(w http.ResponseWriter, r *http.Request) {
	p, err := pathParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := s.Containers.CopyTo(r.Context(), r.PathValue("id"), p, r.Body); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) containerExport(w http.ResponseWriter, r *http.Request) {
	if _, err := s.Containers.Get(r.PathValue("id")); err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	if err := s.Containers.Export(r.Context(), r.PathValue("id"), w); err != nil {
		s.Log.Warn("export", "container", r.PathValue("id"), "err", err)
		panic(http.ErrAbortHandler) // cut the stream: a truncated tar, not a valid one
	}
}

func (s *Server) containerChanges(w http.ResponseWriter, r *http.Request) {
	ch, err := s.Containers.Changes(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	if ch == nil {
		ch = []ctr.Change{}
	}
	writeJSON(w, http.StatusOK, ch)
}
