package dockerapi

import (
	"encoding/json"
	"net/http"
	"sync"

	"github.com/moby/moby/api/types/jsonstream"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/images"
)

// progressStream writes the newline-delimited JSON messages Docker clients
// render as progress bars. Errors after the header went out are sent as a
// final errorDetail message, as dockerd does.
type progressStream struct {
	mu      sync.Mutex
	w       http.ResponseWriter
	enc     *json.Encoder
	started bool
}

func newProgressStream(w http.ResponseWriter) *progressStream {
	return &progressStream{w: w, enc: json.NewEncoder(w)}
}

func (p *progressStream) start() {
	if !p.started {
		p.started = true
		p.w.Header().Set("Content-Type", "application/json")
		p.w.WriteHeader(http.StatusOK)
	}
}

func (p *progressStream) send(m any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.start()
	p.enc.Encode(m)
	if f, ok := p.w.(http.Flusher); ok {
		f.Flush()
	}
}

// progress adapts image progress to stream messages.
func (p *progressStream) progress(ev images.Progress) {
	m := jsonstream.Message{ID: ev.ID, Status: ev.Status}
	if ev.Total > 0 || ev.Current > 0 {
		m.Progress = &jsonstream.Progress{Current: ev.Current, Total: ev.Total}
	} else if ev.ID != "" {
		m.Progress = &jsonstream.Progress{}
	}
	p.send(m)
}

// fail reports err: as an HTTP error if nothing was streamed yet.
func (p *progressStream) fail(err error) {
	p.mu.Lock()
	if !p.started {
		p.mu.Unlock()
		writeError(p.w, err)
		return
	}
	p.mu.Unlock()
	p.send(legacyError{
		Message:   jsonstream.Message{Error: &jsonstream.Error{Code: errdefs.HTTPStatus(err), Message: err.Error()}},
		ErrorText: err.Error(),
	})
}

// legacyError carries the error text in the old "error" field as well,
// which older clients read.
type legacyError struct {
	jsonstream.Message
	ErrorText string `json:"error,omitempty"`
}
