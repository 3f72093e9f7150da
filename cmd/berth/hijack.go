package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/berth-dev/berth/internal/errdefs"
)

// hijack opens a raw stream (attach, exec start): it sends the request on
// its own connection, checks for 101/200, and returns the connection with
// whatever the server already sent buffered in front.
func (c *client) hijack(ctx context.Context, path string, q url.Values, body string) (net.Conn, io.Reader, error) {
	sock := strings.TrimPrefix(c.host, "unix://")
	conn, err := (&net.Dialer{}).DialContext(ctx, "unix", sock)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot connect to the Berth daemon at %s: is berthd running? (%v)", c.host, err)
	}
	u := "/v" + apiVersion + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req := "POST " + u + " HTTP/1.1\r\nHost: berth\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\n"
	req += fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(body), body)
	if _, err := conn.Write([]byte(req)); err != nil {
		conn.Close()
		return nil, nil, err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols && resp.StatusCode != http.StatusOK {
		defer conn.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		msg := strings.TrimSpace(string(b))
		if i := strings.Index(msg, `"message":"`); i >= 0 {
			msg = strings.TrimSuffix(strings.TrimSuffix(msg[i+11:], "}"), `"`)
		}
		return nil, nil, errdefs.FromHTTPStatus(resp.StatusCode, msg)
	}
	return conn, br, nil
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
