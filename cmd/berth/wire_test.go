package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadResponseBodies(t *testing.T) {
	for _, tc := range []struct {
		name, method, raw string
		code              int
		body              string
		reuse             bool
		wantErr           string
	}{
		{name: "length", method: "GET", raw: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", code: 200, body: "hello", reuse: true},
		{name: "chunked", method: "GET", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nTrailer: x\r\n\r\n", code: 200, body: "abcde", reuse: true},
		{name: "to the close", method: "GET", raw: "HTTP/1.0 200 OK\r\n\r\nuntil eof", code: 200, body: "until eof", reuse: false},
		{name: "connection close", method: "GET", raw: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", code: 200, body: "ok", reuse: false},
		{name: "no content", method: "DELETE", raw: "HTTP/1.1 204 No Content\r\n\r\n", code: 204, reuse: true},
		{name: "head", method: "HEAD", raw: "HTTP/1.1 200 OK\r\nContent-Length: 99\r\nX-Docker-Container-Path-Stat: e30=\r\n\r\n", code: 200, reuse: true},
		{name: "error status", method: "POST", raw: "HTTP/1.1 404 Not Found\r\nContent-Length: 24\r\n\r\n{\"message\":\"no such id\"}", code: 404, body: `{"message":"no such id"}`, reuse: true},
		{name: "bad status line", method: "GET", raw: "SSH-2.0-OpenSSH\r\n\r\n", wantErr: "malformed answer"},
		{name: "bad code", method: "GET", raw: "HTTP/1.1 2x0 OK\r\n\r\n", wantErr: "malformed status"},
		{name: "bad length", method: "GET", raw: "HTTP/1.1 200 OK\r\nContent-Length: -3\r\n\r\n", wantErr: "bad Content-Length"},
		{name: "bad chunk size", method: "GET", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", code: 200, wantErr: "malformed chunk size"},
		{name: "truncated chunk", method: "GET", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", code: 200, wantErr: "unexpected EOF"},
		{name: "truncated head", method: "GET", raw: "HTTP/1.1 200 OK\r\nContent-Le", wantErr: "reading the daemon's answer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			br := bufio.NewReader(strings.NewReader(tc.raw))
			resp, err := readResponse(br)
			var body io.ReadCloser
			reused := false
			if err == nil {
				body, err = bodyReader(tc.method, resp, br, func(r bool) { reused = r })
			}
			var got []byte
			if err == nil {
				got, err = io.ReadAll(body)
				body.Close()
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.code || string(got) != tc.body || reused != tc.reuse {
				t.Fatalf("got %d %q reuse=%v, want %d %q reuse=%v", resp.StatusCode, got, reused, tc.code, tc.body, tc.reuse)
			}
		})
	}
}

func TestWriteRequestFraming(t *testing.T) {
	for _, tc := range []struct {
		name, method string
		body         io.Reader
		want         []string
	}{
		{"no body", "GET", nil, []string{"GET /v1/x HTTP/1.1\r\n", "Host: berth\r\n", "\r\n\r\n"}},
		{"empty post", "POST", nil, []string{"Content-Length: 0\r\n\r\n"}},
		{"sized", "POST", strings.NewReader(`{"a":1}`), []string{"Content-Length: 7\r\n\r\n{\"a\":1}"}},
		{"streamed", "PUT", io.MultiReader(strings.NewReader("abc")), []string{"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sb strings.Builder
			w := bufio.NewWriter(&sb)
			if err := writeRequest(w, tc.method, "/v1/x", header{"X-Test": {"1"}}, tc.body); err != nil {
				t.Fatal(err)
			}
			for _, want := range tc.want {
				if !strings.Contains(sb.String(), want) {
					t.Errorf("request %q lacks %q", sb.String(), want)
				}
			}
		})
	}
	if err := writeRequest(bufio.NewWriter(io.Discard), "GET", "/", header{"X": {"a\r\nInjected: 1"}}, nil); err == nil {
		t.Error("a field value with CRLF was sent")
	}
}

// A connection the daemon closed while idle is replaced, and a request
// that can be sent again is; connections go back to the pool only once
// their answer is read to the end.
func TestPoolReusesAndRedials(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "d.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan int, 10)
	go func() {
		for n := 1; ; n++ {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- n
			go func(c net.Conn, n int) {
				defer c.Close()
				br := bufio.NewReader(c)
				for i := 0; ; i++ {
					if _, err := readRequestHead(br); err != nil {
						return
					}
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
					if n == 1 && i == 0 {
						return // the first connection closes after one answer
					}
				}
			}(c, n)
		}
	}()
	p := &pool{sock: sock}
	get := func() {
		t.Helper()
		resp, err := p.roundTrip(context.Background(), "GET", "/x", nil, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "ok" {
			t.Fatalf("body %q", b)
		}
	}
	get() // conn 1, then closed by the server
	get() // conn 1 reused and found closed: redial (conn 2)
	get() // conn 2 reused
	close(accepted)
	n := 0
	for range accepted {
		n++
	}
	if n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}
	// A cancelled request ends with the context's error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.roundTrip(ctx, "GET", "/x", nil, nil, false); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled request: %v", err)
	}
}

// readRequestHead reads a request up to its blank line (bodies are empty).
func readRequestHead(br *bufio.Reader) (string, error) {
	var sb strings.Builder
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return "", err
		}
		sb.WriteString(l)
		if l == "\r\n" {
			return sb.String(), nil
		}
	}
}

func FuzzReadResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
		"HTTP/1.0 500 x\r\n\r\n{}",
	} {
		f.Add(s, "GET")
	}
	f.Fuzz(func(t *testing.T, raw, method string) {
		br := bufio.NewReader(strings.NewReader(raw))
		resp, err := readResponse(br)
		if err != nil {
			return
		}
		if resp.StatusCode < 100 || resp.StatusCode > 999 {
			t.Fatalf("status %d accepted", resp.StatusCode)
		}
		body, err := bodyReader(method, resp, br, func(bool) {})
		if err != nil {
			return
		}
		io.Copy(io.Discard, io.LimitReader(body, 1<<20))
		body.Close()
	})
}
