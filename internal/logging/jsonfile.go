package logging

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// JSONFile writes Docker's json-file format: one JSON object per line,
// {"log":"text\n","stream":"stdout","time":"RFC3339Nano"}, rotated by size
// into path.1 … path.N-1 (path.1 the newest). It is safe for concurrent use.
type JSONFile struct {
	mu       sync.Mutex
	path     string
	maxSize  int64
	maxFiles int
	f        *os.File
	size     int64
	buf      []byte
	closed   bool
}

// NewJSONFile opens (appending to) the log at path. maxSize <= 0 disables
// rotation; maxFiles counts path itself, so maxFiles <= 1 with a maxSize
// truncates path instead of keeping older files.
func NewJSONFile(path string, maxSize int64, maxFiles int) (*JSONFile, error) {
	j := &JSONFile{path: path, maxSize: maxSize, maxFiles: maxFiles}
	if err := j.open(false); err != nil {
		return nil, err
	}
	return j, nil
}

func (j *JSONFile) open(truncate bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_APPEND
	if truncate {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(j.path, flags, 0o640)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("open log: %w", err)
	}
	j.f, j.size = f, st.Size()
	return nil
}

// Write stores line as one record, or as several partial ones when it is
// longer than MaxLineSize.
func (j *JSONFile) Write(stream string, line []byte, t time.Time) error {
	if len(line) == 0 {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return os.ErrClosed
	}
	return splitLine(line, func(piece []byte) error {
		j.buf = appendJSONRecord(j.buf[:0], stream, piece, t)
		return j.writeRecord(j.buf)
	})
}

func (j *JSONFile) writeRecord(rec []byte) error {
	if j.f == nil {
		// A failed rotation left no file open: try again before giving up.
		if err := j.open(false); err != nil {
			return err
		}
	}
	if j.maxSize > 0 && j.size > 0 && j.size+int64(len(rec)) > j.maxSize {
		if err := j.rotate(); err != nil {
			return fmt.Errorf("rotate log: %w", err)
		}
	}
	n, err := j.f.Write(rec)
	j.size += int64(n)
	return err
}

// rotate shifts path → path.1 → … and starts an empty path. On failure the
// old file stays (or is reopened) so that output keeps being recorded.
func (j *JSONFile) rotate() error {
	if err := j.f.Close(); err != nil {
		j.f = nil
		return err
	}
	j.f = nil
	if j.maxFiles <= 1 {
		return j.open(true)
	}
	var errs []error
	last := j.path + "." + strconv.Itoa(j.maxFiles-1)
	if err := os.Remove(last); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	for i := j.maxFiles - 2; i >= 1; i-- {
		from := j.path + "." + strconv.Itoa(i)
		if err := os.Rename(from, j.path+"."+strconv.Itoa(i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := os.Rename(j.path, j.path+".1"); err != nil {
		errs = append(errs, err)
	}
	// Appends to the old file if the rename failed, which keeps the output.
	if err := j.open(false); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Close closes the file; later writes fail with os.ErrClosed.
func (j *JSONFile) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil
	}
	j.closed = true
	if j.f == nil {
		return nil
	}
	return j.f.Close()
}

// appendJSONRecord encodes one record the way Docker's json-file does
// (HTML-safe escaping, invalid UTF-8 replaced) without reflection: the
// shim writes every line of every container through it.
func appendJSONRecord(dst []byte, stream string, line []byte, t time.Time) []byte {
	dst = append(dst, `{"log":"`...)
	dst = appendJSONString(dst, line)
	dst = append(dst, `","stream":"`...)
	dst = appendJSONString(dst, []byte(stream))
	dst = append(dst, `","time":"`...)
	dst = t.UTC().AppendFormat(dst, time.RFC3339Nano)
	return append(dst, "\"}\n"...)
}

const hexDigits = "0123456789abcdef"

func appendJSONString(dst, s []byte) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}
