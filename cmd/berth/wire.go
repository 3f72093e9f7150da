package main

// HTTP/1.1 for the daemon's socket, without net/http: its package
// initialisation (TLS, x509, HTTP/2, ~75 packages) cost ~1 ms of every
// CLI start here (a Go hello-world importing net/http starts in 2.4 ms,
// without it in 1.5 ms), 5 % of a `berth run --rm`. The CLI only speaks
// to berthd over a unix socket: requests with a JSON, tar or empty body,
// answers with a length, chunked or ending at the close, and hijacked
// streams (hijack.go).

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
)

// header holds a request's or an answer's fields, keys canonical.
type header = textproto.MIMEHeader

// response is the daemon's answer; Body reads its payload.
type response struct {
	StatusCode int
	Header     header
	Body       io.ReadCloser
}

// sizedReader is a body whose length is known up front (sent with a
// Content-Length; any other body is sent chunked).
type sizedReader interface {
	io.Reader
	Len() int
}

// writeRequest sends a request line, the fields and the body.
func writeRequest(w *bufio.Writer, method, target string, hdr header, body io.Reader) error {
	fmt.Fprintf(w, "%s %s HTTP/1.1\r\nHost: berth\r\nUser-Agent: berth-cli/%s\r\n", method, target, version)
	for k, vs := range hdr {
		for _, v := range vs {
			if strings.ContainsAny(k+v, "\r\n") {
				return fmt.Errorf("invalid header field %q", k)
			}
			fmt.Fprintf(w, "%s: %s\r\n", k, v)
		}
	}
	switch b := body.(type) {
	case nil:
		if method == "POST" || method == "PUT" {
			w.WriteString("Content-Length: 0\r\n")
		}
		w.WriteString("\r\n")
	case sizedReader:
		fmt.Fprintf(w, "Content-Length: %d\r\n\r\n", b.Len())
		if _, err := io.Copy(w, b); err != nil {
			return err
		}
	default:
		w.WriteString("Transfer-Encoding: chunked\r\n\r\n")
		cw := &chunkedWriter{w: w}
		if _, err := io.Copy(cw, body); err != nil {
			return err
		}
		w.WriteString("0\r\n\r\n")
	}
	return w.Flush()
}

// chunkedWriter frames each write as one chunk.
type chunkedWriter struct{ w *bufio.Writer }

func (c *chunkedWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	fmt.Fprintf(c.w, "%x\r\n", len(p))
	c.w.Write(p)
	_, err := c.w.WriteString("\r\n")
	return len(p), err
}

// readResponse reads a status line and fields; the body is left in br for
// bodyReader (or, hijacked, for the caller).
func readResponse(br *bufio.Reader) (*response, error) {
	tp := textproto.NewReader(br)
	line, err := tp.ReadLine()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("reading the daemon's answer: %w", err)
	}
	proto, rest, ok := strings.Cut(line, " ")
	if !ok || !strings.HasPrefix(proto, "HTTP/1.") || len(rest) < 3 {
		return nil, fmt.Errorf("malformed answer from the daemon: %q", line)
	}
	code, err := strconv.Atoi(rest[:3])
	if err != nil || code < 100 || code > 999 {
		return nil, fmt.Errorf("malformed status in the daemon's answer: %q", line)
	}
	hdr, err := tp.ReadMIMEHeader()
	if err != nil {
		return nil, fmt.Errorf("reading the daemon's answer: %w", err)
	}
	return &response{StatusCode: code, Header: hdr}, nil
}

// bodyReader frames the body of resp, an answer to method, in br. done
// runs once with whether the connection can carry another request (the
// body was read to its end, and the daemon keeps the connection).
func bodyReader(method string, resp *response, br *bufio.Reader, done func(reuse bool)) (io.ReadCloser, error) {
	keep := !strings.EqualFold(resp.Header.Get("Connection"), "close")
	b := &body{done: done}
	switch {
	case method == "HEAD" || resp.StatusCode == 204 || resp.StatusCode == 304 || resp.StatusCode < 200:
		b.r, b.eof = strings.NewReader(""), true
	case strings.EqualFold(resp.Header.Get("Transfer-Encoding"), "chunked"):
		b.r = &chunkedReader{br: br}
	case resp.Header.Get("Content-Length") != "":
		n, err := strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("bad Content-Length %q in the daemon's answer", resp.Header.Get("Content-Length"))
		}
		b.r, b.eof = io.LimitReader(br, n), n == 0
	default:
		b.r, keep = br, false // to the close
	}
	b.keep = keep
	return b, nil
}

// body hands its connection back once read to the end and closed.
type body struct {
	r         io.Reader
	eof, keep bool
	once      sync.Once
	done      func(reuse bool)
}

func (b *body) Read(p []byte) (int, error) {
	if b.eof {
		return 0, io.EOF
	}
	n, err := b.r.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *body) Close() error {
	b.once.Do(func() { b.done(b.eof && b.keep) })
	return nil
}

// chunkedReader decodes a chunked body (its trailer fields are skipped).
type chunkedReader struct {
	br   *bufio.Reader
	left int64
	end  bool
}

func (c *chunkedReader) Read(p []byte) (int, error) {
	if c.end {
		return 0, io.EOF
	}
	if c.left == 0 {
		line, err := readLine(c.br)
		if err != nil {
			return 0, err
		}
		if i := strings.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		n, err := strconv.ParseInt(strings.TrimSpace(line), 16, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("malformed chunk size %q in the daemon's answer", line)
		}
		if n == 0 {
			for { // trailer, up to the empty line
				l, err := readLine(c.br)
				if err != nil {
					return 0, err
				}
				if l == "" {
					break
				}
			}
			c.end = true
			return 0, io.EOF
		}
		c.left = n
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.br.Read(p)
	c.left -= int64(n)
	if c.left == 0 && err == nil {
		if l, lerr := readLine(c.br); lerr != nil || l != "" {
			return n, errors.New("malformed chunk in the daemon's answer")
		}
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func readLine(br *bufio.Reader) (string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return "", err
	}
	if len(line) > 4096 {
		return "", errors.New("line too long in the daemon's answer")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// conn is a connection to the daemon with its buffers.
type conn struct {
	net.Conn
	br *bufio.Reader
	bw *bufio.Writer
}

// pool keeps one idle connection: the CLI's requests are few and mostly
// one after the other.
type pool struct {
	sock string
	mu   sync.Mutex
	idle *conn
}

// get takes the idle connection, or dials one (reused reports which).
func (p *pool) get(ctx context.Context) (c *conn, reused bool, err error) {
	p.mu.Lock()
	c = p.idle
	p.idle = nil
	p.mu.Unlock()
	if c != nil {
		return c, true, nil
	}
	c, err = dial(ctx, p.sock)
	return c, false, err
}

func dial(ctx context.Context, sock string) (*conn, error) {
	nc, err := (&net.Dialer{}).DialContext(ctx, "unix", sock)
	if err != nil {
		return nil, err
	}
	return &conn{Conn: nc, br: bufio.NewReader(nc), bw: bufio.NewWriter(nc)}, nil
}

func (p *pool) put(c *conn) {
	p.mu.Lock()
	old := p.idle
	p.idle = c
	p.mu.Unlock()
	if old != nil {
		old.Close()
	}
}

// roundTrip sends one request and reads the answer's head; the body
// streams from the connection, which goes back to the pool once the body
// is read and closed. A cancelled ctx closes the connection.
func (p *pool) roundTrip(ctx context.Context, method, target string, hdr header, body io.Reader, own bool) (*response, error) {
	var c *conn
	var reused bool
	var err error
	if own {
		c, err = dial(ctx, p.sock)
	} else {
		c, reused, err = p.get(ctx)
	}
	if err != nil {
		return nil, err
	}
	if reused {
		// The daemon may have closed an idle connection meanwhile: a
		// request that can be sent again is, on a new one.
		if s, ok := body.(io.Seeker); body == nil || ok {
			resp, err := p.send(ctx, c, method, target, hdr, body)
			if err == nil || ctx.Err() != nil || !errors.Is(err, errBeforeAnswer) {
				return resp, err
			}
			if s != nil {
				if _, err := s.Seek(0, io.SeekStart); err != nil {
					return nil, err
				}
			}
		} else {
			c.Close()
		}
		if c, err = dial(ctx, p.sock); err != nil {
			return nil, err
		}
	}
	return p.send(ctx, c, method, target, hdr, body)
}

// errBeforeAnswer marks a failure before any byte of the answer came.
var errBeforeAnswer = errors.New("connection lost before the daemon answered")

func (p *pool) send(ctx context.Context, c *conn, method, target string, hdr header, body io.Reader) (*response, error) {
	stop := context.AfterFunc(ctx, func() { c.Close() })
	fail := func(err error) (*response, error) {
		stop()
		c.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	if err := writeRequest(c.bw, method, target, hdr, body); err != nil {
		return fail(fmt.Errorf("%w: %w", errBeforeAnswer, err))
	}
	if _, err := c.br.Peek(1); err != nil {
		return fail(fmt.Errorf("%w: %w", errBeforeAnswer, err))
	}
	resp, err := readResponse(c.br)
	if err != nil {
		return fail(err)
	}
	resp.Body, err = bodyReader(method, resp, c.br, func(reuse bool) {
		if stop() && reuse {
			p.put(c)
			return
		}
		c.Close()
	})
	if err != nil {
		return fail(err)
	}
	return resp, nil
}
