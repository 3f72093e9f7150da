package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func init() { followPoll = 5 * time.Millisecond }

var t0 = time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestJSONFileFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	j, err := NewJSONFile(path, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		stream, line, want string
	}{
		{Stdout, "hello\n", `{"log":"hello\n","stream":"stdout","time":"2024-05-06T07:08:09.123456789Z"}`},
		{Stderr, "a\"b\\c\t<&>\x01\r\n", `{"log":"a\"b\\c\t\u003c\u0026\u003e\u0001\r\n","stream":"stderr","time":"2024-05-06T07:08:09.123456789Z"}`},
		{Stdout, "bad \xff utf8 é \u2028\n", `{"log":"bad \ufffd utf8 é \u2028\n","stream":"stdout","time":"2024-05-06T07:08:09.123456789Z"}`},
		{Stdout, "no newline", `{"log":"no newline","stream":"stdout","time":"2024-05-06T07:08:09.123456789Z"}`},
	}
	for _, c := range cases {
		if err := j.Write(c.stream, []byte(c.line), t0); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if err := j.Write(Stdout, []byte("x\n"), t0); err == nil {
		t.Error("write after close succeeded")
	}
	got := readLines(t, path)
	if len(got) != len(cases) {
		t.Fatalf("got %d lines, want %d: %q", len(got), len(cases), got)
	}
	for i, c := range cases {
		if got[i] != c.want {
			t.Errorf("line %d:\n got %s\nwant %s", i, got[i], c.want)
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(got[i]), &v); err != nil {
			t.Errorf("line %d is not JSON: %v", i, err)
		}
		rec, err := ParseJSONLine([]byte(got[i]))
		if err != nil {
			t.Fatal(err)
		}
		if rec.Stream != c.stream || !rec.Time.Equal(t0) || rec.Partial != !strings.HasSuffix(c.line, "\n") {
			t.Errorf("line %d parsed as %+v", i, rec)
		}
	}
}

func TestJSONFileSplitsLongLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	j, err := NewJSONFile(path, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	long := strings.Repeat("x", 2*MaxLineSize+100) + "\n"
	exact := strings.Repeat("y", MaxLineSize) + "\n"
	for _, l := range []string{long, exact} {
		if err := j.Write(Stdout, []byte(l), t0); err != nil {
			t.Fatal(err)
		}
	}
	var recs []Record
	if err := Read(context.Background(), path, ReadOptions{Tail: -1}, func(r Record) error {
		recs = append(recs, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		n       int
		partial bool
	}{{MaxLineSize, true}, {MaxLineSize, true}, {101, false}, {MaxLineSize + 1, false}}
	if len(recs) != len(want) {
		t.Fatalf("got %d records, want %d", len(recs), len(want))
	}
	var joined []byte
	for i, w := range want {
		if len(recs[i].Line) != w.n || recs[i].Partial != w.partial {
			t.Errorf("record %d: len %d partial %v, want %d %v", i, len(recs[i].Line), recs[i].Partial, w.n, w.partial)
		}
		if i < 3 {
			joined = append(joined, recs[i].Line...)
		}
	}
	if string(joined) != long {
		t.Error("pieces do not join back into the line")
	}
}

// writeN writes lines "line 0" … "line n-1", one second apart from t0.
func writeN(t *testing.T, w Writer, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := w.Write(Stdout, fmt.Appendf(nil, "line %d\n", i), t0.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
}

func collect(t *testing.T, path string, opts ReadOptions) []string {
	t.Helper()
	var got []string
	err := Read(context.Background(), path, opts, func(r Record) error {
		got = append(got, strings.TrimSuffix(string(r.Line), "\n"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func lineRange(from, to int) []string {
	var s []string
	for i := from; i < to; i++ {
		s = append(s, fmt.Sprintf("line %d", i))
	}
	return s
}

func equal(a, b []string) bool {
	return strings.Join(a, "|") == strings.Join(b, "|")
}

// recordSize is the encoded size of "line NN\n" records from writeN.
var recordSize = len(appendJSONRecord(nil, Stdout, []byte("line 10\n"), t0))

func TestRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.log")
	// Five records per file, three files.
	j, err := NewJSONFile(path, int64(5*recordSize), 3)
	if err != nil {
		t.Fatal(err)
	}
	writeN(t, j, 10, 23)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	names, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(names) != 3 {
		t.Fatalf("files: %v", names)
	}
	for _, n := range names {
		st, _ := os.Stat(n)
		if st.Size() > int64(5*recordSize) {
			t.Errorf("%s is %d bytes, over the maximum", n, st.Size())
		}
	}
	if got := len(readLines(t, path+".2")); got != 5 {
		t.Errorf("oldest file has %d records", got)
	}
	// 23 lines, 5 a file: the live file has 3, then 5 and 5.
	if got, want := collect(t, path, ReadOptions{Tail: -1}), lineRange(20, 33); !equal(got, want) {
		t.Errorf("read all: %v, want %v", got, want)
	}
	// Reopening appends to the live file and keeps rotating.
	j, err = NewJSONFile(path, int64(5*recordSize), 3)
	if err != nil {
		t.Fatal(err)
	}
	writeN(t, j, 33, 3)
	j.Close()
	if got, want := collect(t, path, ReadOptions{Tail: -1}), lineRange(25, 36); !equal(got, want) {
		t.Errorf("after reopen: %v, want %v", got, want)
	}
}

func TestRotationSingleFileTruncates(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.log")
	j, err := NewJSONFile(path, int64(4*recordSize), 1)
	if err != nil {
		t.Fatal(err)
	}
	writeN(t, j, 10, 10)
	j.Close()
	names, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(names) != 1 {
		t.Fatalf("files: %v", names)
	}
	if got, want := collect(t, path, ReadOptions{Tail: -1}), lineRange(18, 20); !equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestReadTailAcrossRotatedFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	j, err := NewJSONFile(path, int64(5*recordSize), 4)
	if err != nil {
		t.Fatal(err)
	}
	writeN(t, j, 10, 17) // 10-14, 15-19, 20-24, 25-26
	j.Close()
	all := collect(t, path, ReadOptions{Tail: -1})
	if !equal(all, lineRange(10, 27)) {
		t.Fatalf("all: %v", all)
	}
	for _, n := range []int{0, 1, 2, 3, 4, 7, 12, 17, 100} {
		want := all
		if n < len(all) {
			want = all[len(all)-n:]
		}
		if got := collect(t, path, ReadOptions{Tail: n}); !equal(got, want) {
			t.Errorf("tail %d: %v, want %v", n, got, want)
		}
	}
	// MaxFiles limits which rotated files are read.
	if got := collect(t, path, ReadOptions{Tail: -1, MaxFiles: 2}); !equal(got, lineRange(20, 27)) {
		t.Errorf("max files 2: %v", got)
	}
}

func TestReadSinceUntil(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	j, err := NewJSONFile(path, int64(5*recordSize), 5)
	if err != nil {
		t.Fatal(err)
	}
	writeN(t, j, 10, 20)
	j.Close()
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
	cases := []struct {
		opts ReadOptions
		want []string
	}{
		{ReadOptions{Tail: -1, Since: at(17)}, lineRange(17, 30)},
		{ReadOptions{Tail: -1, Until: at(12)}, lineRange(10, 13)},
		{ReadOptions{Tail: -1, Since: at(14), Until: at(21)}, lineRange(14, 22)},
		{ReadOptions{Tail: 5, Since: at(27)}, lineRange(27, 30)},
		{ReadOptions{Tail: -1, Since: at(40)}, nil},
	}
	for i, c := range cases {
		if got := collect(t, path, c.opts); !equal(got, c.want) {
			t.Errorf("case %d: %v, want %v", i, got, c.want)
		}
	}
}

func TestReadMissingFile(t *testing.T) {
	if got := collect(t, filepath.Join(t.TempDir(), "none.log"), ReadOptions{Tail: -1}); len(got) != 0 {
		t.Errorf("got %v", got)
	}
}

func TestReadFollow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	j, err := NewJSONFile(path, int64(5*recordSize), 3)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	writeN(t, j, 10, 3)
	done := make(chan struct{})
	got := make(chan string, 100)
	errc := make(chan error, 1)
	go func() {
		errc <- Read(context.Background(), path, ReadOptions{Tail: 2, Follow: true, Done: done}, func(r Record) error {
			got <- strings.TrimSuffix(string(r.Line), "\n")
			return nil
		})
	}()
	expect := func(want []string) {
		t.Helper()
		for _, w := range want {
			select {
			case g := <-got:
				if g != w {
					t.Fatalf("got %q, want %q", g, w)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("timed out waiting for %q", w)
			}
		}
	}
	expect(lineRange(11, 13))
	writeN(t, j, 13, 1)
	expect(lineRange(13, 14))
	// Lines 14-22 cross two rotations (5 records a file).
	for i := 14; i < 23; i++ {
		writeN(t, j, i, 1)
		time.Sleep(2 * time.Millisecond)
	}
	expect(lineRange(14, 23))
	// Written just before Done closes: still delivered.
	writeN(t, j, 23, 4)
	close(done)
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follow did not end after Done")
	}
	expect(lineRange(23, 27))
	if len(got) != 0 {
		t.Errorf("extra records: %d", len(got))
	}
}

func TestReadFollowPartialAndWait(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan Record, 10)
	errc := make(chan error, 1)
	go func() {
		errc <- Read(ctx, path, ReadOptions{Tail: -1, Follow: true}, func(r Record) error {
			got <- r
			return nil
		})
	}()
	time.Sleep(20 * time.Millisecond)
	// The file appears only now; a record arrives in two writes.
	rec := appendJSONRecord(nil, Stderr, []byte("half"), t0)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write(rec[:10])
	time.Sleep(30 * time.Millisecond)
	if len(got) != 0 {
		t.Fatal("a torn line was delivered")
	}
	f.Write(rec[10:])
	select {
	case r := <-got:
		if r.Stream != Stderr || string(r.Line) != "half" || !r.Partial {
			t.Errorf("got %+v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("timed out")
	}
	cancel()
	if err := <-errc; err != context.Canceled {
		t.Errorf("follow ended with %v", err)
	}
}

func TestReadStopsOnCallbackError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	j, _ := NewJSONFile(path, 0, 0)
	writeN(t, j, 0, 5)
	j.Close()
	boom := fmt.Errorf("boom")
	n := 0
	err := Read(context.Background(), path, ReadOptions{Tail: -1}, func(Record) error {
		n++
		if n == 2 {
			return boom
		}
		return nil
	})
	if err != boom || n != 2 {
		t.Errorf("err %v after %d records", err, n)
	}
}

type memWriter struct{ recs []Record }

func (m *memWriter) Write(stream string, line []byte, t time.Time) error {
	m.recs = append(m.recs, Record{Stream: stream, Line: bytes.Clone(line), Time: t})
	return nil
}

func TestLineWriter(t *testing.T) {
	m := &memWriter{}
	lw := LineWriter(m, Stderr)
	lw.Now = func() time.Time { return t0 }
	writes := []string{"he", "llo\nwor", "ld\n\nthree", strings.Repeat("z", MaxLineSize+10), "\ntail"}
	for _, w := range writes {
		n, err := lw.Write([]byte(w))
		if err != nil || n != len(w) {
			t.Fatalf("write %q: %d %v", w, n, err)
		}
	}
	if err := lw.Close(); err != nil {
		t.Fatal(err)
	}
	want := []string{"hello\n", "world\n", "\n", "three" + strings.Repeat("z", MaxLineSize-5), strings.Repeat("z", 15) + "\n", "tail"}
	if len(m.recs) != len(want) {
		t.Fatalf("got %d records, want %d", len(m.recs), len(want))
	}
	for i, w := range want {
		if string(m.recs[i].Line) != w || m.recs[i].Stream != Stderr || !m.recs[i].Time.Equal(t0) {
			t.Errorf("record %d: %q", i, m.recs[i].Line)
		}
	}
	// Nothing pending: Close writes nothing more.
	lw.Close()
	if len(m.recs) != len(want) {
		t.Error("second Close wrote a record")
	}
}

func TestCRIFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "0.log")
	c, err := NewCRIFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c.Write(Stdout, []byte("hello world\n"), t0)
	c.Write(Stderr, []byte("\n"), t0)
	c.Write(Stdout, []byte(strings.Repeat("a", MaxLineSize+1)+"\n"), t0)
	c.Write(Stderr, []byte("end"), t0)
	ts := "2024-05-06T07:08:09.123456789Z"
	want := []string{
		ts + " stdout F hello world",
		ts + " stderr F ",
		ts + " stdout P " + strings.Repeat("a", MaxLineSize),
		ts + " stdout F a",
		ts + " stderr P end",
	}
	if got := readLines(t, path); !equal(got, want) {
		t.Errorf("got %q", got)
	}
	// The kubelet renames the file, then asks for a reopen.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	c.Write(Stdout, []byte("to old\n"), t0)
	if err := c.Reopen(); err != nil {
		t.Fatal(err)
	}
	c.Write(Stdout, []byte("to new\n"), t0)
	c.Close()
	if got := readLines(t, path); !equal(got, []string{ts + " stdout F to new"}) {
		t.Errorf("new file: %q", got)
	}
	if got := readLines(t, path+".1"); len(got) != 6 {
		t.Errorf("old file has %d lines", len(got))
	}
}
