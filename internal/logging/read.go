package logging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
)

// ReadOptions selects the records Read delivers.
type ReadOptions struct {
	// Since and Until bound the records' times (inclusive); zero means
	// unbounded. Reading stops at the first record after Until.
	Since, Until time.Time
	// Tail is how many of the last records to start from; -1 means all
	// of them, 0 none (only new ones, when following).
	Tail int
	// Follow keeps reading new records, across rotations, until ctx is
	// done, Done is closed (after the rest is delivered), or Until passes.
	Follow bool
	// MaxFiles is how many files the writer keeps (path and path.1 …
	// path.MaxFiles-1); 0 reads every path.N that exists.
	MaxFiles int
	// Done, when closed, ends following once what is written is read:
	// close it when the container has exited and its output is flushed.
	Done <-chan struct{}
}

// followPoll is how often a follower looks for new records and rotations.
var followPoll = 100 * time.Millisecond

var errStop = errors.New("stop")

// Read delivers the json-file records at path and its rotated files, oldest
// first, to out; an error from out ends the read and is returned. A missing
// log is empty (a follower waits for it to appear).
func Read(ctx context.Context, path string, opts ReadOptions, out func(Record) error) error {
	files, err := openLogFiles(path, opts.MaxFiles)
	if err != nil {
		return err
	}
	defer func() {
		for _, c := range files {
			c.f.Close()
		}
	}()
	r := &logReader{opts: opts, out: out}
	first := 0
	if opts.Tail >= 0 && len(files) > 0 {
		if first, err = seekTail(files, opts.Tail); err != nil {
			return err
		}
	}
	for i := first; i < len(files); i++ {
		if err := r.drain(files[i]); err != nil {
			return r.result(err)
		}
	}
	if !opts.Follow {
		return nil
	}
	var cur *cursor
	if len(files) > 0 {
		cur = files[len(files)-1]
		files = files[:len(files)-1]
	}
	defer func() {
		if cur != nil {
			cur.f.Close()
		}
	}()
	return r.result(r.follow(ctx, path, &cur))
}

func (r *logReader) result(err error) error {
	if err == errStop {
		return nil
	}
	return err
}

// follow reads what is appended to cur and, when path becomes another
// file, the rest of cur and then the new file.
func (r *logReader) follow(ctx context.Context, path string, cur **cursor) error {
	done := r.opts.Done
	finishing := false
	timer := time.NewTimer(followPoll)
	defer timer.Stop()
	for {
		if *cur != nil {
			if err := r.drain(*cur); err != nil {
				return err
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		switched, err := reopenIfRotated(path, cur)
		if err != nil {
			return err
		}
		if switched {
			continue
		}
		if finishing || (!r.opts.Until.IsZero() && time.Now().After(r.opts.Until)) {
			return nil
		}
		timer.Reset(followPoll)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-done:
			finishing, done = true, nil
		case <-timer.C:
		}
	}
}

// reopenIfRotated switches *cur to the file now at path (after reading the
// rest of the old one, which the writer no longer appends to), and rewinds
// it if it was truncated in place.
func reopenIfRotated(path string, cur **cursor) (bool, error) {
	st, err := os.Stat(path)
	if err != nil {
		// Between the writer's rename and create, or not created yet.
		return false, nil
	}
	if c := *cur; c != nil {
		if os.SameFile(c.info, st) {
			if st.Size() < c.pos {
				if _, err := c.f.Seek(0, io.SeekStart); err != nil {
					return false, err
				}
				c.pos, c.pending = 0, c.pending[:0]
			}
			return false, nil
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return false, nil
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return false, err
	}
	if *cur != nil {
		// The caller drained the old file just before; it is complete.
		(*cur).f.Close()
	}
	*cur = &cursor{f: f, info: info}
	return true, nil
}

type logReader struct {
	opts ReadOptions
	out  func(Record) error
	buf  []byte
}

// drain delivers every complete line from c's position to its end.
func (r *logReader) drain(c *cursor) error {
	if r.buf == nil {
		r.buf = make([]byte, 32*1024)
	}
	for {
		n, err := c.f.Read(r.buf)
		if n > 0 {
			if perr := c.lines(r.buf[:n], r.deliver); perr != nil {
				return perr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (r *logReader) deliver(line []byte) error {
	rec, err := ParseJSONLine(line)
	if err != nil {
		// A torn or foreign line: skip it rather than lose the rest.
		return nil
	}
	if !r.opts.Since.IsZero() && rec.Time.Before(r.opts.Since) {
		return nil
	}
	if !r.opts.Until.IsZero() && rec.Time.After(r.opts.Until) {
		return errStop
	}
	return r.out(rec)
}

// cursor is one open log file and the incomplete line read from it so far.
type cursor struct {
	f       *os.File
	info    os.FileInfo
	pos     int64 // bytes read
	pending []byte
}

// lines feeds data into the cursor and calls fn for each completed line.
func (c *cursor) lines(data []byte, fn func([]byte) error) error {
	c.pos += int64(len(data))
	for len(data) > 0 {
		i := indexNL(data)
		if i < 0 {
			c.pending = append(c.pending, data...)
			return nil
		}
		line := data[:i+1]
		if len(c.pending) > 0 {
			c.pending = append(c.pending, line...)
			line = c.pending
		}
		err := fn(line)
		c.pending = c.pending[:0]
		if err != nil {
			return err
		}
		data = data[i+1:]
	}
	return nil
}

func indexNL(b []byte) int {
	for i, c := range b {
		if c == '\n' {
			return i
		}
	}
	return -1
}

// openLogFiles opens path and its rotated files, oldest first. The live
// file is opened first so that a rotation meanwhile shows up as a file
// seen twice (dropped) rather than as a gap.
func openLogFiles(path string, maxFiles int) ([]*cursor, error) {
	var newestFirst []*cursor
	add := func(name string) (bool, error) {
		f, err := os.Open(name)
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("open log: %w", err)
		}
		info, err := f.Stat()
		if err != nil {
			f.Close()
			return false, fmt.Errorf("open log: %w", err)
		}
		for _, c := range newestFirst {
			if os.SameFile(c.info, info) {
				f.Close()
				return true, nil
			}
		}
		newestFirst = append(newestFirst, &cursor{f: f, info: info})
		return true, nil
	}
	fail := func(err error) ([]*cursor, error) {
		for _, c := range newestFirst {
			c.f.Close()
		}
		return nil, err
	}
	if _, err := add(path); err != nil {
		return fail(err)
	}
	for i := 1; maxFiles <= 0 || i < maxFiles; i++ {
		ok, err := add(path + "." + strconv.Itoa(i))
		if err != nil {
			return fail(err)
		}
		if !ok {
			break
		}
	}
	files := make([]*cursor, len(newestFirst))
	for i, c := range newestFirst {
		files[len(files)-1-i] = c
	}
	return files, nil
}

// seekTail positions the files so that reading from files[first] on
// yields the last n complete lines.
func seekTail(files []*cursor, n int) (first int, err error) {
	buf := make([]byte, 32*1024)
	need := n
	for i := len(files) - 1; i >= 0; i-- {
		c := files[i]
		start, seen, found, err := tailStart(c.f, c.info.Size(), need, buf)
		if err != nil {
			return 0, err
		}
		if found || i == 0 {
			if _, err := c.f.Seek(start, io.SeekStart); err != nil {
				return 0, err
			}
			c.pos = start
			return i, nil
		}
		need -= seen
	}
	return 0, nil
}

// tailStart returns the offset where the last n complete lines of the
// first size bytes of f begin. found is false when f has fewer than n+1
// line ends, so that the lines before its start belong to an older file;
// seen is then how many complete lines it has.
func tailStart(f *os.File, size int64, n int, buf []byte) (start int64, seen int, found bool, err error) {
	pos := size
	for pos > 0 {
		chunk := int64(len(buf))
		if chunk > pos {
			chunk = pos
		}
		pos -= chunk
		if _, err := f.ReadAt(buf[:chunk], pos); err != nil && err != io.EOF {
			return 0, 0, false, err
		}
		for i := chunk - 1; i >= 0; i-- {
			if buf[i] != '\n' {
				continue
			}
			if seen == n {
				return pos + i + 1, n, true, nil
			}
			seen++
		}
	}
	return 0, seen, false, nil
}

// jsonLine is one line of a json-file log as Docker writes it.
type jsonLine struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// ParseJSONLine decodes one json-file line (with or without its newline).
func ParseJSONLine(line []byte) (Record, error) {
	var l jsonLine
	if err := json.Unmarshal(line, &l); err != nil {
		return Record{}, fmt.Errorf("json-file line: %w", err)
	}
	n := len(l.Log)
	return Record{
		Stream:  l.Stream,
		Line:    []byte(l.Log),
		Time:    l.Time,
		Partial: n == 0 || l.Log[n-1] != '\n',
	}, nil
}
