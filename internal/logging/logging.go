// Package logging stores a container's output: Docker's json-file format
// with size and count rotation, the CRI log format Kubernetes reads, a
// splitter that turns a byte stream into line records, and a json-file
// reader that tails and follows across rotations.
package logging

import (
	"bytes"
	"time"
)

// MaxLineSize is the longest line stored as one record; a longer line is
// split into partial records of this size, as Docker's log copier does.
const MaxLineSize = 16 * 1024

// Stream names as both formats write them.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

// A Writer stores records. line is one line of output including its
// trailing newline; a line without one is stored as a partial record.
type Writer interface {
	Write(stream string, line []byte, t time.Time) error
}

// A Record is one stored line.
type Record struct {
	Stream string
	// Line holds the text, with its trailing newline unless Partial.
	Line []byte
	Time time.Time
	// Partial marks a piece of a longer line (or the unterminated end of
	// the output); the next record of the stream continues it.
	Partial bool
}

// splitLine calls emit for each piece of line no longer than MaxLineSize
// (not counting the newline, which stays with the last piece).
func splitLine(line []byte, emit func(piece []byte) error) error {
	body := bytes.TrimSuffix(line, []byte{'\n'})
	for len(body) > MaxLineSize {
		if err := emit(body[:MaxLineSize]); err != nil {
			return err
		}
		body = body[MaxLineSize:]
		line = line[MaxLineSize:]
	}
	return emit(line)
}
