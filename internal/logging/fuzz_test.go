package logging

import (
	"bytes"
	"testing"
	"time"
)

// FuzzParseJSONLine checks that any line parses or fails cleanly, and that
// what parses survives our encoder: encode(parse(x)) parses to the same.
func FuzzParseJSONLine(f *testing.F) {
	f.Add([]byte(`{"log":"hello\n","stream":"stdout","time":"2024-05-06T07:08:09.123456789Z"}`))
	f.Add([]byte(`{"log":"part","stream":"stderr","time":"2024-05-06T07:08:09Z"}` + "\n"))
	f.Add([]byte(`{"log":"\u003c\ufffd\u2028","stream":"stdout","time":"2024-05-06T07:08:09+02:00","attrs":{"a":"b"}}`))
	f.Add([]byte(`{"log":`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, line []byte) {
		rec, err := ParseJSONLine(line)
		if err != nil {
			return
		}
		enc := appendJSONRecord(nil, rec.Stream, rec.Line, rec.Time)
		if len(enc) == 0 || enc[len(enc)-1] != '\n' || bytes.Count(enc, []byte{'\n'}) != 1 {
			t.Fatalf("encoded record is not one line: %q", enc)
		}
		back, err := ParseJSONLine(enc)
		if err != nil {
			t.Fatalf("re-encoded %q does not parse: %v (%q)", line, err, enc)
		}
		if back.Stream != rec.Stream || !bytes.Equal(back.Line, rec.Line) || back.Partial != rec.Partial ||
			!back.Time.Equal(rec.Time.UTC()) || back.Time.Location() != time.UTC {
			t.Fatalf("round trip changed %+v into %+v", rec, back)
		}
	})
}
