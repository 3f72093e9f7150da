package dockerapi

import (
	"net/http"
	"strings"

	"github.com/moby/moby/api/types/volume"

	vol "github.com/berth-dev/berth/internal/volume"
)

func (s *Server) volumeRoutes() {
	s.mux.HandleFunc("POST /volumes/create", s.volumeCreate)
	s.mux.HandleFunc("GET /volumes", s.volumeList)
	s.mux.HandleFunc("POST /volumes/prune", s.volumePrune)
	s.mux.HandleFunc("GET /volumes/{name}", s.volumeInspect)
	s.mux.HandleFunc("DELETE /volumes/{name}", s.volumeDelete)
}

func toAPIVolume(v vol.Volume) volume.Volume {
	labels := v.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	return volume.Volume{Name: v.Name, Driver: v.Driver, Mountpoint: v.Mountpoint, CreatedAt: rfc3339(v.CreatedAt),
		Labels: labels, Scope: "local", Options: map[string]string{}}
}

func (s *Server) volumeCreate(w http.ResponseWriter, r *http.Request) {
	var req volume.CreateRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	v, err := s.Volumes.Create(req.Name, req.Driver, req.Labels, req.DriverOpts, false)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, toAPIVolume(v))
}

func (s *Server) volumeList(w http.ResponseWriter, r *http.Request) {
	f, err := filters(r)
	if err != nil {
		writeError(w, err)
		return
	}
	list, err := s.Volumes.List()
	if err != nil {
		writeError(w, err)
		return
	}
	out := volume.ListResponse{Volumes: []volume.Volume{}, Warnings: []string{}}
	for _, v := range list {
		if names, ok := f["name"]; ok && !anyContains(names, v.Name) {
			continue
		}
		if d, ok := f["dangling"]; ok {
			dangling := len(s.Containers.VolumeUsers(v.Name)) == 0
			if (d[0] == "true" || d[0] == "1") != dangling {
				continue
			}
		}
		av := toAPIVolume(v)
		out.Volumes = append(out.Volumes, av)
	}
	writeJSON(w, http.StatusOK, out)
}

func anyContains(subs []string, s string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}

func (s *Server) volumeInspect(w http.ResponseWriter, r *http.Request) {
	v, err := s.Volumes.Get(r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, toAPIVolume(v))
}

func (s *Server) volumeDelete(w http.ResponseWriter, r *http.Request) {
	if err := s.Volumes.Remove(r.Context(), r.PathValue("name"), boolParam(r, "force")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) volumePrune(w http.ResponseWriter, r *http.Request) {
	f, err := filters(r)
	if err != nil {
		writeError(w, err)
		return
	}
	all := len(f["all"]) > 0 && (f["all"][0] == "true" || f["all"][0] == "1")
	names, space, err := s.Volumes.Prune(r.Context(), all)
	if err != nil {
		writeError(w, err)
		return
	}
	if names == nil {
		names = []string{}
	}
	writeJSON(w, http.StatusOK, volume.PruneReport{VolumesDeleted: names, SpaceReclaimed: space})
}
