package logging

import (
	"bytes"
	"time"
)

// LineSplitter turns one output stream into records: it buffers an
// incomplete line, emits a partial record once MaxLineSize bytes are
// pending without a newline, and flushes what is left on Close. It is not
// safe for concurrent use; use one per stream.
type LineSplitter struct {
	w      Writer
	stream string
	buf    []byte
	// Now stamps the records; time.Now unless set.
	Now func() time.Time
}

// LineWriter returns an io.WriteCloser that stores the bytes written to it
// as records of stream in w.
func LineWriter(w Writer, stream string) *LineSplitter {
	return &LineSplitter{w: w, stream: stream, Now: time.Now}
}

// Write consumes all of p; the error is the first the Writer returned.
func (l *LineSplitter) Write(p []byte) (int, error) {
	n := len(p)
	var first error
	keep := func(err error) {
		if first == nil {
			first = err
		}
	}
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			for len(l.buf)+len(p) > MaxLineSize {
				take := MaxLineSize - len(l.buf)
				keep(l.emit(p[:take]))
				p = p[take:]
			}
			l.buf = append(l.buf, p...)
			break
		}
		keep(l.emit(p[:i+1]))
		p = p[i+1:]
	}
	return n, first
}

// emit writes the buffered bytes followed by tail as one record.
func (l *LineSplitter) emit(tail []byte) error {
	line := tail
	if len(l.buf) > 0 {
		l.buf = append(l.buf, tail...)
		line = l.buf
	}
	err := l.w.Write(l.stream, line, l.Now())
	l.buf = l.buf[:0]
	if cap(l.buf) > 2*MaxLineSize {
		l.buf = nil
	}
	return err
}

// Pending returns the incomplete line buffered so far.
func (l *LineSplitter) Pending() []byte { return append([]byte(nil), l.buf...) }

// Restore makes p the incomplete line buffered so far (what Pending
// returned in another process).
func (l *LineSplitter) Restore(p []byte) { l.buf = append(l.buf[:0], p...) }

// Close stores a pending incomplete line as a partial record. It does not
// close the underlying Writer, which other streams share.
func (l *LineSplitter) Close() error {
	if len(l.buf) == 0 {
		return nil
	}
	return l.emit(nil)
}
