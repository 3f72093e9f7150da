package dockerapi

import (
	"encoding/json"
	"net/http"

	"github.com/moby/moby/api/types/jsonstream"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/images"
	"github.com/berth-dev/berth/internal/reference"
)

func (s *Server) imagePush(w http.ResponseWriter, r *http.Request, name string) {
	creds, err := registryAuth(r)
	if err != nil {
		writeError(w, err)
		return
	}
	ref, err := reference.ParseAnyTag(name)
	if err != nil {
		writeError(w, err)
		return
	}
	if tag := r.URL.Query().Get("tag"); tag != "" {
		if err := reference.ParseTag(tag); err != nil {
			writeError(w, err)
			return
		}
		ref = ref.WithTag(tag)
	}
	refs := []reference.Reference{ref}
	if ref.Tag == "" && ref.Digest == "" {
		// docker push repo (-a): every local tag of the repository.
		if refs, err = s.Images.Tags(r.Context(), ref); err != nil {
			writeError(w, err)
			return
		}
	}
	ps := newProgressStream(w)
	for _, ref := range refs {
		res, err := s.Images.Push(r.Context(), ref, creds, ps.progress)
		if err != nil {
			ps.fail(err)
			return
		}
		aux, _ := json.Marshal(map[string]any{"Tag": res.Tag, "Digest": res.Digest, "Size": res.Size})
		raw := json.RawMessage(aux)
		ps.send(jsonstream.Message{Aux: &raw})
	}
}

func (s *Server) imageSaveMany(w http.ResponseWriter, r *http.Request) {
	names := r.URL.Query()["names"]
	if len(names) == 0 {
		writeError(w, errdefs.InvalidArgument("names is required"))
		return
	}
	s.imageSave(w, r, names)
}

func (s *Server) imageSave(w http.ResponseWriter, r *http.Request, names []string) {
	// Resolve first, so an unknown name is a clean 404 before the body starts.
	for _, n := range names {
		if _, err := s.Images.Get(r.Context(), n); err != nil {
			writeError(w, err)
			return
		}
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	if err := s.Images.Save(r.Context(), names, w); err != nil {
		// Too late for a status: cut the stream so the client sees a
		// truncated tar rather than a valid one.
		s.Log.Error("image save", "names", names, "err", err)
		panic(http.ErrAbortHandler)
	}
}

func (s *Server) imageLoad(w http.ResponseWriter, r *http.Request) {
	quiet := boolParam(r, "quiet")
	ps := newProgressStream(w)
	report := ps.progress
	if quiet {
		report = func(ev images.Progress) {
			if ev.ID == "" {
				ps.progress(ev)
			}
		}
	}
	loaded, err := s.Images.Load(r.Context(), r.Body, s.Root+"/tmp", func(ev images.Progress) {
		if ev.ID == "" {
			// "Loaded image: ..." lines go out as stream text, as dockerd does.
			ps.send(jsonstream.Message{Stream: ev.Status + "\n"})
			return
		}
		report(ev)
	})
	if err != nil {
		ps.fail(err)
		return
	}
	if len(loaded) == 0 {
		ps.fail(errdefs.InvalidArgument("no images found in the archive"))
	}
}
