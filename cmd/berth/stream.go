package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/berth-dev/berth/internal/errdefs"
)

// streamMessage is one line of a pull/push/load progress stream.
type streamMessage struct {
	Stream   string `json:"stream"`
	Status   string `json:"status"`
	ID       string `json:"id"`
	Progress *struct {
		Current int64 `json:"current"`
		Total   int64 `json:"total"`
	} `json:"progressDetail"`
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"errorDetail"`
	ErrorText string          `json:"error"`
	Aux       json.RawMessage `json:"aux"`
}

// renderStream prints a progress stream as docker does: one line per
// layer, updated in place on a terminal, appended otherwise. It returns
// the stream's error message as an error.
func renderStream(r io.Reader, out *os.File, quiet bool) error {
	tty := term.IsTerminal(int(out.Fd())) && !quiet
	dec := json.NewDecoder(r)
	lines := map[string]int{} // id -> line number from the top
	n := 0
	for {
		var m streamMessage
		if err := dec.Decode(&m); err != nil {
			if err == io.EOF {
				return nil
			}
			return errdefs.Unavailable("reading the daemon's progress stream: %v", err)
		}
		if m.Error != nil || m.ErrorText != "" {
			msg := m.ErrorText
			if m.Error != nil && m.Error.Message != "" {
				msg = m.Error.Message
			}
			if m.Error != nil && m.Error.Code != 0 {
				return errdefs.FromHTTPStatus(m.Error.Code, msg)
			}
			return fmt.Errorf("%s", msg)
		}
		if quiet {
			continue
		}
		if m.Stream != "" {
			fmt.Fprint(out, m.Stream)
			continue
		}
		if m.Status == "" {
			continue
		}
		text := m.Status
		if m.ID != "" {
			text = m.ID + ": " + m.Status
		}
		if m.Progress != nil && m.Progress.Total > 0 {
			text += " " + bar(m.Progress.Current, m.Progress.Total)
		}
		if !tty {
			if m.Progress != nil && m.Progress.Total > 0 {
				continue // bars are for terminals
			}
			fmt.Fprintln(out, text)
			continue
		}
		if m.ID == "" {
			fmt.Fprintln(out, text)
			n++
			lines = map[string]int{}
			continue
		}
		line, ok := lines[m.ID]
		if !ok {
			lines[m.ID] = n
			fmt.Fprintln(out, text)
			n++
			continue
		}
		up := n - line
		fmt.Fprintf(out, "\x1b[%dA\r\x1b[2K%s\x1b[%dB\r", up, text, up)
	}
}

func bar(cur, total int64) string {
	const width = 40
	if cur > total {
		cur = total
	}
	done := int(float64(width) * float64(cur) / float64(total))
	b := strings.Repeat("=", done)
	if done < width {
		b += ">" + strings.Repeat(" ", width-done-1)
	}
	return fmt.Sprintf("[%s] %s/%s", b, humanSize(cur), humanSize(total))
}

// humanSize formats bytes as docker does (decimal units, 3 significant digits).
func humanSize(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	f := float64(n)
	i := 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	return strings.TrimSuffix(strings.TrimSuffix(fmt.Sprintf("%.4g", f), ".0"), ".") + units[i]
}
