package dockerapi

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	nettypes "github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/storage"

	ctr "github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/logging"
)

func (s *Server) containerRoutes() {
	m := s.mux
	m.HandleFunc("POST /containers/create", s.containerCreate)
	m.HandleFunc("GET /containers/json", s.containerList)
	m.HandleFunc("POST /containers/prune", s.containerPrune)
	m.HandleFunc("GET /containers/{id}/json", s.containerInspect)
	m.HandleFunc("POST /containers/{id}/start", s.containerStart)
	m.HandleFunc("POST /containers/{id}/stop", s.containerStop)
	m.HandleFunc("POST /containers/{id}/restart", s.containerRestart)
	m.HandleFunc("POST /containers/{id}/kill", s.containerKill)
	m.HandleFunc("POST /containers/{id}/wait", s.containerWait)
	m.HandleFunc("POST /containers/{id}/pause", s.containerPause)
	m.HandleFunc("POST /containers/{id}/unpause", s.containerUnpause)
	m.HandleFunc("POST /containers/{id}/rename", s.containerRename)
	m.HandleFunc("POST /containers/{id}/resize", s.containerResize)
	m.HandleFunc("POST /containers/{id}/attach", s.containerAttach)
	m.HandleFunc("GET /containers/{id}/logs", s.containerLogs)
	m.HandleFunc("GET /containers/{id}/stats", s.containerStats)
	m.HandleFunc("GET /containers/{id}/top", s.containerTop)
	m.HandleFunc("POST /containers/{id}/update", s.containerUpdate)
	m.HandleFunc("DELETE /containers/{id}", s.containerDelete)
}

func (s *Server) containerCreate(w http.ResponseWriter, r *http.Request) {
	var req container.CreateRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if req.Config == nil {
		writeError(w, errdefs.InvalidArgument("config cannot be empty in order to create a container"))
		return
	}
	c, err := s.Containers.Create(r.Context(), ctr.CreateOptions{Name: r.URL.Query().Get("name"), Config: req.Config, HostConfig: req.HostConfig, NetworkingConfig: req.NetworkingConfig})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, container.CreateResponse{ID: c.ID, Warnings: []string{}})
}

func (s *Server) containerStart(w http.ResponseWriter, r *http.Request) {
	s.noContent(w, s.Containers.Start(r.Context(), r.PathValue("id")))
}

// noContent answers 204, 304 for "already so", or the error.
func (s *Server) noContent(w http.ResponseWriter, err error) {
	switch {
	case err == nil:
		w.WriteHeader(http.StatusNoContent)
	case errors.Is(err, ctr.ErrNotModified):
		w.WriteHeader(http.StatusNotModified)
	default:
		writeError(w, err)
	}
}

func timeoutParam(r *http.Request) (*int, error) {
	v := r.URL.Query().Get("t")
	if v == "" {
		v = r.URL.Query().Get("timeout")
	}
	if v == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return nil, errdefs.InvalidArgument("invalid timeout %q", v)
	}
	return &n, nil
}

func (s *Server) containerStop(w http.ResponseWriter, r *http.Request) {
	t, err := timeoutParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	s.noContent(w, s.Containers.Stop(r.Context(), r.PathValue("id"), t, r.URL.Query().Get("signal")))
}

func (s *Server) containerRestart(w http.ResponseWriter, r *http.Request) {
	t, err := timeoutParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	err = s.Containers.Restart(r.Context(), r.PathValue("id"), t, r.URL.Query().Get("signal"))
	if errors.Is(err, ctr.ErrNotModified) {
		err = nil
	}
	s.noContent(w, err)
}

func (s *Server) containerKill(w http.ResponseWriter, r *http.Request) {
	s.noContent(w, s.Containers.Kill(r.Context(), r.PathValue("id"), r.URL.Query().Get("signal")))
}

func (s *Server) containerPause(w http.ResponseWriter, r *http.Request) {
	s.noContent(w, s.Containers.Pause(r.Context(), r.PathValue("id")))
}

func (s *Server) containerUnpause(w http.ResponseWriter, r *http.Request) {
	s.noContent(w, s.Containers.Unpause(r.Context(), r.PathValue("id")))
}

func (s *Server) containerRename(w http.ResponseWriter, r *http.Request) {
	s.noContent(w, s.Containers.Rename(r.PathValue("id"), r.URL.Query().Get("name")))
}

func (s *Server) containerResize(w http.ResponseWriter, r *http.Request) {
	h, _ := strconv.Atoi(r.URL.Query().Get("h"))
	wd, _ := strconv.Atoi(r.URL.Query().Get("w"))
	if err := s.Containers.Resize(r.PathValue("id"), h, wd); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) containerDelete(w http.ResponseWriter, r *http.Request) {
	err := s.Containers.Remove(r.Context(), r.PathValue("id"), ctr.RemoveOptions{Force: boolParam(r, "force"), Volumes: boolParam(r, "v")})
	s.noContent(w, err)
}

func (s *Server) containerPrune(w http.ResponseWriter, r *http.Request) {
	ids, err := s.Containers.Prune(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	if ids == nil {
		ids = []string{}
	}
	writeJSON(w, http.StatusOK, container.PruneReport{ContainersDeleted: ids})
}

// containerWait acknowledges at once (headers out) and answers when the
// condition holds, so a client may start the container right after.
func (s *Server) containerWait(w http.ResponseWriter, r *http.Request) {
	c, err := s.Containers.Get(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	cond := r.URL.Query().Get("condition")
	switch cond {
	case "", "not-running", "next-exit", "removed":
	default:
		writeError(w, errdefs.InvalidArgument("invalid condition: %q", cond))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	res, err := s.Containers.WaitFrom(r.Context(), c, cond)
	resp := container.WaitResponse{StatusCode: int64(res.ExitCode)}
	if err != nil {
		resp.Error = &container.WaitExitError{Message: err.Error()}
	} else if res.Error != "" {
		resp.Error = &container.WaitExitError{Message: res.Error}
	}
	json.NewEncoder(w).Encode(resp)
}

func statusText(c *ctr.Container) string {
	st := c.State
	switch st.Status {
	case ctr.StatusRunning:
		return "Up " + units.HumanDuration(time.Since(st.StartedAt))
	case ctr.StatusPaused:
		return "Up " + units.HumanDuration(time.Since(st.StartedAt)) + " (Paused)"
	case ctr.StatusRestarting:
		return fmt.Sprintf("Restarting (%d) %s ago", st.ExitCode, units.HumanDuration(time.Since(st.FinishedAt)))
	case ctr.StatusExited:
		if st.FinishedAt.IsZero() {
			return "Exited"
		}
		return fmt.Sprintf("Exited (%d) %s ago", st.ExitCode, units.HumanDuration(time.Since(st.FinishedAt)))
	case ctr.StatusCreated:
		return "Created"
	case ctr.StatusRemoving:
		return "Removal In Progress"
	}
	return "Dead"
}

func command(c *ctr.Container) string {
	return strings.TrimSpace(c.Path + " " + strings.Join(c.Args, " "))
}

func (s *Server) containerList(w http.ResponseWriter, r *http.Request) {
	f, err := filters(r)
	if err != nil {
		writeError(w, err)
		return
	}
	list, err := s.Containers.List()
	if err != nil {
		writeError(w, err)
		return
	}
	all := boolParam(r, "all")
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	out := []container.Summary{}
	for i := range list {
		c := &list[i]
		if c.Pod != nil {
			continue // the CRI's (Kubernetes') containers: crictl ps shows them
		}
		if !all && !c.State.Running() && c.State.Status != ctr.StatusRestarting && len(f["status"]) == 0 {
			continue
		}
		if !matchContainer(f, c) {
			continue
		}
		sum := container.Summary{
			ID: c.ID, Names: []string{"/" + c.Name}, Image: c.ImageRef, ImageID: c.Image, Command: command(c),
			Created: c.Created.Unix(), Labels: c.Config.Labels, State: container.ContainerState(c.State.Status),
			Status: statusText(c), Ports: portSummary(c), Mounts: mountPoints(c),
			NetworkSettings: &container.NetworkSettingsSummary{Networks: networkSettings(c)},
		}
		if sum.Labels == nil {
			sum.Labels = map[string]string{}
		}
		sum.HostConfig.NetworkMode = string(c.HostConfig.NetworkMode)
		out = append(out, sum)
		if limit > 0 && len(out) == limit {
			break
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func matchContainer(f map[string][]string, c *ctr.Container) bool {
	any := func(key string, ok func(v string) bool) bool {
		vs, set := f[key]
		if !set {
			return true
		}
		for _, v := range vs {
			if ok(v) {
				return true
			}
		}
		return false
	}
	return any("status", func(v string) bool { return v == c.State.Status }) &&
		any("name", func(v string) bool { return strings.Contains(c.Name, strings.TrimPrefix(v, "/")) }) &&
		any("id", func(v string) bool { return strings.HasPrefix(c.ID, v) }) &&
		any("ancestor", func(v string) bool { return v == c.ImageRef || v == c.Image }) &&
		any("exited", func(v string) bool { return c.State.Status == ctr.StatusExited && v == strconv.Itoa(c.State.ExitCode) }) &&
		any("label", func(v string) bool {
			k, val, hasVal := strings.Cut(v, "=")
			got, ok := c.Config.Labels[k]
			return ok && (!hasVal || got == val)
		})
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return "0001-01-01T00:00:00Z"
	}
	return t.Format(time.RFC3339Nano)
}

func (s *Server) containerInspect(w http.ResponseWriter, r *http.Request) {
	c, err := s.Containers.Get(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	st := c.State
	resp := container.InspectResponse{
		ID: c.ID, Created: rfc3339(c.Created), Path: c.Path, Args: c.Args, Image: c.Image, Name: "/" + c.Name,
		State: &container.State{
			Status: container.ContainerState(st.Status), Running: st.Running(), Paused: st.Status == ctr.StatusPaused,
			Restarting: st.Status == ctr.StatusRestarting, OOMKilled: st.OOMKilled, Dead: st.Status == ctr.StatusDead,
			Pid: st.Pid, ExitCode: st.ExitCode, Error: st.Error, StartedAt: rfc3339(st.StartedAt), FinishedAt: rfc3339(st.FinishedAt),
		},
		LogPath: s.Containers.LogPath(c.ID), RestartCount: c.RestartCount, Driver: "overlayfs", Platform: "linux",
		HostConfig: c.HostConfig, Config: c.Config, Mounts: []container.MountPoint{}, ExecIDs: c.ExecIDs,
		GraphDriver: &storage.DriverData{Name: "overlayfs", Data: map[string]string{}},
	}
	if resp.Args == nil {
		resp.Args = []string{}
	}
	resp.Mounts = mountPoints(c)
	resp.NetworkSettings = &container.NetworkSettings{Networks: networkSettings(c), Ports: portMap(c)}
	if c.Net != nil {
		resp.NetworkSettings.SandboxKey = c.Net.NetNS
		resp.NetworkSettings.SandboxID = c.ID
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) containerAttach(w http.ResponseWriter, r *http.Request) {
	c, err := s.Containers.Get(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	if !boolParam(r, "stream") && !boolParam(r, "logs") {
		writeError(w, errdefs.InvalidArgument("bad parameter: either stream or logs must be set"))
		return
	}
	opts := ctr.AttachOptions{Stdin: boolParam(r, "stdin"), Stdout: boolParam(r, "stdout"), Stderr: boolParam(r, "stderr")}
	var conn *hijacked
	err = s.Containers.Attach(r.Context(), c.ID, opts, func() (io.ReadWriteCloser, error) {
		// Answered only once the attachment is registered.
		conn, err = hijack(w, r, !c.Config.Tty)
		return conn, err
	})
	if conn == nil {
		if err != nil {
			writeError(w, err)
		}
		return
	}
	conn.Close()
	if err != nil {
		s.Log.Debug("attach ended", "container", c.ID, "err", err)
	}
}

func (s *Server) containerLogs(w http.ResponseWriter, r *http.Request) {
	c, err := s.Containers.Get(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	q := r.URL.Query()
	stdout, stderr := boolParam(r, "stdout"), boolParam(r, "stderr")
	if !stdout && !stderr {
		writeError(w, errdefs.InvalidArgument("you must choose at least one stream"))
		return
	}
	opts := logging.ReadOptions{Tail: -1, Follow: boolParam(r, "follow")}
	if t := q.Get("tail"); t != "" && t != "all" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 {
			writeError(w, errdefs.InvalidArgument("invalid tail %q", t))
			return
		}
		opts.Tail = n
	}
	if opts.Since, err = parseEventTime(q.Get("since")); err != nil {
		writeError(w, err)
		return
	}
	if opts.Until, err = parseEventTime(q.Get("until")); err != nil {
		writeError(w, err)
		return
	}
	if opts.Follow {
		opts.Done = s.Containers.Exited(r.Context(), c.ID)
	}
	timestamps := boolParam(r, "timestamps")
	tty := c.Config.Tty
	if tty {
		w.Header().Set("Content-Type", "application/vnd.docker.raw-stream")
	} else {
		w.Header().Set("Content-Type", "application/vnd.docker.multiplexed-stream")
	}
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush()
	}
	var hdr [8]byte
	err = logging.Read(r.Context(), s.Containers.LogPath(c.ID), opts, func(rec logging.Record) error {
		if (rec.Stream == "stdout" && !stdout) || (rec.Stream == "stderr" && !stderr) {
			return nil
		}
		line := rec.Line
		if timestamps {
			line = append([]byte(rec.Time.UTC().Format(time.RFC3339Nano)+" "), line...)
		}
		if !tty {
			hdr[0] = 1
			if rec.Stream == "stderr" {
				hdr[0] = 2
			}
			binary.BigEndian.PutUint32(hdr[4:], uint32(len(line)))
			if _, err := w.Write(hdr[:]); err != nil {
				return err
			}
		}
		if _, err := w.Write(line); err != nil {
			return err
		}
		if flusher != nil && opts.Follow {
			flusher.Flush()
		}
		return nil
	})
	if err != nil && r.Context().Err() == nil {
		s.Log.Debug("logs", "container", c.ID, "err", err)
	}
}

func mountPoints(c *ctr.Container) []container.MountPoint {
	out := []container.MountPoint{}
	for _, m := range c.Mounts {
		mp := container.MountPoint{Type: mount.Type(m.Type), Name: m.Name, Source: m.Source, Destination: m.Destination,
			RW: !m.ReadOnly, Propagation: mount.Propagation(m.Propagation)}
		if m.Type == "volume" {
			mp.Driver = "local"
		}
		out = append(out, mp)
	}
	return out
}

// networkSettings is a container's networks, by name, for inspect and ps.
func networkSettings(c *ctr.Container) map[string]*nettypes.EndpointSettings {
	out := map[string]*nettypes.EndpointSettings{}
	for name, es := range c.Endpoints {
		out[name] = endpointSettings(c, es)
	}
	if mode := string(c.HostConfig.NetworkMode); mode == "host" || mode == "none" {
		out[mode] = &nettypes.EndpointSettings{Aliases: []string{}}
	}
	return out
}

// portMap is Docker's NetworkSettings.Ports: each exposed port, with its
// host bindings if published.
func portMap(c *ctr.Container) nettypes.PortMap {
	out := nettypes.PortMap{}
	for p := range c.Config.ExposedPorts {
		out[p] = nil
	}
	if c.Net == nil {
		return out
	}
	for _, m := range c.Net.Ports {
		p, err := nettypes.ParsePort(strconv.Itoa(m.ContainerPort) + "/" + m.Protocol)
		if err != nil {
			continue
		}
		ip := netip.IPv4Unspecified()
		if a, err := netip.ParseAddr(m.HostIP); err == nil {
			ip = a
		}
		out[p] = append(out[p], nettypes.PortBinding{HostIP: ip, HostPort: strconv.Itoa(m.HostPort)})
	}
	return out
}

// portSummary is docker ps's Ports column.
func portSummary(c *ctr.Container) []container.PortSummary {
	out := []container.PortSummary{}
	published := map[string]bool{}
	if c.Net != nil && c.State.Running() {
		for _, m := range c.Net.Ports {
			ip := netip.IPv4Unspecified()
			if a, err := netip.ParseAddr(m.HostIP); err == nil {
				ip = a
			}
			out = append(out, container.PortSummary{IP: ip, PrivatePort: uint16(m.ContainerPort), PublicPort: uint16(m.HostPort), Type: m.Protocol})
			published[strconv.Itoa(m.ContainerPort)+"/"+m.Protocol] = true
		}
	}
	for p := range c.Config.ExposedPorts {
		if !published[p.String()] {
			out = append(out, container.PortSummary{PrivatePort: p.Num(), Type: string(p.Proto())})
		}
	}
	return out
}
