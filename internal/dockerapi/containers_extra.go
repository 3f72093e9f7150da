package dockerapi

import (
	"net/http"

	"github.com/moby/moby/api/types/container"
)

func (s *Server) containerTop(w http.ResponseWriter, r *http.Request) {
	titles, rows, err := s.Containers.Top(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	if rows == nil {
		rows = [][]string{}
	}
	writeJSON(w, http.StatusOK, container.TopResponse{Titles: titles, Processes: rows})
}

func (s *Server) containerUpdate(w http.ResponseWriter, r *http.Request) {
	var req container.UpdateConfig
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if err := s.Containers.Update(r.Context(), r.PathValue("id"), req.Resources, &req.RestartPolicy); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, container.UpdateResponse{Warnings: []string{}})
}
