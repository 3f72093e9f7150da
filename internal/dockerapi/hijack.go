package dockerapi

import (
	"io"
	"net"
	"net/http"
)

// hijacked is an API connection taken over for a raw stream (attach, exec).
type hijacked struct {
	r io.Reader
	net.Conn
}

func (h *hijacked) Read(p []byte) (int, error) { return h.r.Read(p) }

// CloseWrite lets the client see the end of output while it may still send.
func (h *hijacked) CloseWrite() error {
	if cw, ok := h.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return h.Conn.Close()
}

// hijack takes the connection over and answers as dockerd does: 101 when
// the client asked to upgrade to a raw TCP stream, 200 otherwise.
func hijack(w http.ResponseWriter, r *http.Request, multiplexed bool) (*hijacked, error) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return nil, io.ErrUnexpectedEOF
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return nil, err
	}
	ct := "application/vnd.docker.raw-stream"
	if multiplexed {
		ct = "application/vnd.docker.multiplexed-stream"
	}
	head := "HTTP/1.1 200 OK\r\nContent-Type: " + ct + "\r\n\r\n"
	if r.Header.Get("Upgrade") != "" {
		head = "HTTP/1.1 101 UPGRADED\r\nContent-Type: " + ct + "\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
	}
	if _, err := conn.Write([]byte(head)); err != nil {
		conn.Close()
		return nil, err
	}
	var rd io.Reader = conn
	if buf != nil && buf.Reader.Buffered() > 0 {
		rd = io.MultiReader(io.LimitReader(buf.Reader, int64(buf.Reader.Buffered())), conn)
	}
	return &hijacked{r: rd, Conn: conn}, nil
}
