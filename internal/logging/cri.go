package logging

import (
	"fmt"
	"os"
	"sync"
	"time"
)

// CRIFile writes the CRI log format the kubelet reads:
// "<RFC3339Nano> <stream> <F|P> <text>\n", P marking a piece of a longer
// line. The kubelet rotates the file itself and asks for Reopen.
type CRIFile struct {
	mu     sync.Mutex
	path   string
	f      *os.File
	buf    []byte
	closed bool
}

// NewCRIFile opens (appending to) the log at path.
func NewCRIFile(path string) (*CRIFile, error) {
	c := &CRIFile{path: path}
	if err := c.Reopen(); err != nil {
		return nil, err
	}
	return c, nil
}

// Reopen starts writing to whatever file is at path now (after the
// kubelet renamed the old one away).
func (c *CRIFile) Reopen() error {
	f, err := os.OpenFile(c.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		f.Close()
		return os.ErrClosed
	}
	if c.f != nil {
		c.f.Close()
	}
	c.f = f
	return nil
}

// Write stores line, split into P records when longer than MaxLineSize; a
// line without a newline ends with a P record too.
func (c *CRIFile) Write(stream string, line []byte, t time.Time) error {
	if len(line) == 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return os.ErrClosed
	}
	return splitLine(line, func(piece []byte) error {
		tag := byte('P')
		if n := len(piece); n > 0 && piece[n-1] == '\n' {
			tag, piece = 'F', piece[:n-1]
		}
		b := t.UTC().AppendFormat(c.buf[:0], time.RFC3339Nano)
		b = append(b, ' ')
		b = append(b, stream...)
		b = append(b, ' ', tag, ' ')
		b = append(b, piece...)
		b = append(b, '\n')
		c.buf = b
		_, err := c.f.Write(b)
		return err
	})
}

// Close closes the file; later writes fail with os.ErrClosed.
func (c *CRIFile) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	return c.f.Close()
}
