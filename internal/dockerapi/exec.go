package dockerapi

import (
	"net/http"
	"strconv"

	"github.com/moby/moby/api/types/container"

	ctr "github.com/berth-dev/berth/internal/container"
)

func (s *Server) execRoutes() {
	s.mux.HandleFunc("POST /containers/{id}/exec", s.execCreate)
	s.mux.HandleFunc("POST /exec/{id}/start", s.execStart)
	s.mux.HandleFunc("POST /exec/{id}/resize", s.execResize)
	s.mux.HandleFunc("GET /exec/{id}/json", s.execInspect)
}

func (s *Server) execCreate(w http.ResponseWriter, r *http.Request) {
	var req container.ExecCreateRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	id, err := s.Containers.CreateExec(r.PathValue("id"), ctr.ExecConfig{
		Cmd: req.Cmd, Env: req.Env, WorkingDir: req.WorkingDir, User: req.User, Tty: req.Tty,
		Stdin: req.AttachStdin, Privileged: req.Privileged,
	})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"Id": id})
}

func (s *Server) execStart(w http.ResponseWriter, r *http.Request) {
	var req container.ExecStartRequest
	if r.ContentLength != 0 {
		if err := decodeBody(r, &req); err != nil {
			writeError(w, err)
			return
		}
	}
	id := r.PathValue("id")
	e, err := s.Containers.InspectExec(id)
	if err != nil {
		writeError(w, err)
		return
	}
	if req.Detach {
		if err := s.Containers.StartExec(r.Context(), id, nil); err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	conn, err := hijack(w, r, !e.Config.Tty)
	if err != nil {
		return
	}
	defer conn.Close()
	if err := s.Containers.StartExec(r.Context(), id, conn); err != nil {
		s.Log.Debug("exec ended", "exec", id, "err", err)
	}
}

func (s *Server) execResize(w http.ResponseWriter, r *http.Request) {
	h, _ := strconv.Atoi(r.URL.Query().Get("h"))
	wd, _ := strconv.Atoi(r.URL.Query().Get("w"))
	if err := s.Containers.ResizeExec(r.PathValue("id"), h, wd); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) execInspect(w http.ResponseWriter, r *http.Request) {
	e, err := s.Containers.InspectExec(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	resp := map[string]any{
		"ID": e.ID, "ContainerID": e.ContainerID, "Running": e.Running, "Pid": e.Pid, "ExitCode": nil,
		"OpenStdin": e.Config.Stdin, "OpenStdout": true, "OpenStderr": true, "CanRemove": false, "DetachKeys": "",
		"ProcessConfig": map[string]any{"tty": e.Config.Tty, "entrypoint": first(e.Config.Cmd), "arguments": rest(e.Config.Cmd), "privileged": e.Config.Privileged, "user": e.Config.User},
	}
	if e.ExitCode != nil {
		resp["ExitCode"] = *e.ExitCode
	}
	writeJSON(w, http.StatusOK, resp)
}

func first(a []string) string {
	if len(a) == 0 {
		return ""
	}
	return a[0]
}

func rest(a []string) []string {
	if len(a) < 2 {
		return []string{}
	}
	return a[1:]
}
