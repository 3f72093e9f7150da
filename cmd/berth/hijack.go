package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"

	"github.com/berth-dev/berth/internal/errdefs"
)

// hijack opens a raw stream (attach, exec start): it sends the request on
// its own connection, checks for 101/200, and returns the connection with
// whatever the server already sent buffered in front.
func (c *client) hijack(ctx context.Context, path string, q url.Values, body string) (net.Conn, io.Reader, error) {
	conn, err := dial(ctx, strings.TrimPrefix(c.host, "unix://"))
	if err != nil {
		return nil, nil, fmt.Errorf("cannot connect to the Berth daemon at %s: is berthd running? (%v)", c.host, unwrapNet(err))
	}
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	hdr := header{"Connection": {"Upgrade"}, "Upgrade": {"tcp"}, "Content-Type": {"application/json"}}
	if err := writeRequest(conn.bw, "POST", u, hdr, strings.NewReader(body)); err != nil {
		conn.Close()
		return nil, nil, err
	}
	resp, err := readResponse(conn.br)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	if resp.StatusCode != 101 && resp.StatusCode != 200 {
		defer conn.Close()
		rb, err := bodyReader("POST", resp, conn.br, func(bool) {})
		if err != nil {
			return nil, nil, err
		}
		b, _ := io.ReadAll(io.LimitReader(rb, 64<<10))
		msg := strings.TrimSpace(string(b))
		var m struct{ Message string }
		if json.Unmarshal(b, &m) == nil && m.Message != "" {
			msg = m.Message
		}
		return nil, nil, errdefs.FromHTTPStatus(resp.StatusCode, msg)
	}
	return conn.Conn, conn.br, nil
}

// demux splits Docker's multiplexed stream into stdout and stderr.
func demux(r io.Reader, stdout, stderr io.Writer) error {
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return nil
			}
			return err
		}
		n := int64(binary.BigEndian.Uint32(hdr[4:]))
		w := stdout
		if hdr[0] == 2 {
			w = stderr
		}
		if _, err := io.CopyN(w, r, n); err != nil {
			return err
		}
	}
}

// forwardStdin copies our stdin to the stream, then half-closes it so the
// container sees the end of its input.
func forwardStdin(conn net.Conn) {
	io.Copy(conn, os.Stdin)
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}
