package shim

import (
	"encoding/binary"
	"net"
	"runtime"
	"sync"
	"time"
)

const (
	// maxQueued bounds what a slow attach client may have pending; output
	// beyond it is dropped for that client alone, so that it never holds
	// up the container or the log.
	maxQueued = 1 << 20
	// flushTimeout bounds the flush of a client's queue once output ends.
	flushTimeout = 5 * time.Second
)

// hub fans a container's output out to its attached clients.
type hub struct {
	tty    bool
	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	closed bool
}

func newHub(tty bool) *hub { return &hub{tty: tty, subs: map[*subscriber]struct{}{}} }

// subscriber is one attached client and its output queue, which its own
// goroutine writes to the connection.
type subscriber struct {
	conn           net.Conn
	stdout, stderr bool
	wake           chan struct{}
	mu             sync.Mutex
	queue, spare   []byte
	closing, dead  bool
	dropped        int64
}

// idle reports whether no client is attached.
func (h *hub) idle() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs) == 0
}

// add attaches conn; it reports false when the output has already ended.
func (h *hub) add(conn net.Conn, stdout, stderr bool, ack func() error) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	// The acknowledgement goes out under the lock: no output can be
	// queued for this client before it, and none produced after it is
	// missed (berthd starts the container right after the ack).
	if ack != nil && ack() != nil {
		return false
	}
	s := &subscriber{conn: conn, stdout: stdout, stderr: stderr, wake: make(chan struct{}, 1)}
	h.subs[s] = struct{}{}
	go s.run(func() { h.remove(s) })
	return true
}

func (h *hub) remove(s *subscriber) {
	h.mu.Lock()
	delete(h.subs, s)
	h.mu.Unlock()
}

// broadcast queues p, output of stream, for every client that wants it.
func (h *hub) broadcast(stream byte, p []byte) {
	h.mu.Lock()
	backlog := 0
	for s := range h.subs {
		if (stream == StreamStdout && s.stdout) || (stream == StreamStderr && s.stderr) {
			backlog = max(backlog, s.push(stream, p, !h.tty))
		}
	}
	h.mu.Unlock()
	if backlog > maxQueued/4 {
		// With one P the pump would otherwise refill the queue for a
		// whole time slice before the writer runs, and a client that
		// keeps up would lose output in a burst.
		runtime.Gosched()
	}
}

// close ends every client's stream once its queue is flushed.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		s.mu.Lock()
		s.closing = true
		s.mu.Unlock()
		s.signal()
	}
}

func (s *subscriber) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// push queues p and returns how much is queued.
func (s *subscriber) push(stream byte, p []byte, framed bool) int {
	n := len(p)
	if framed {
		n += 8
	}
	s.mu.Lock()
	if s.dead || s.closing || len(s.queue)+n > maxQueued {
		if !s.dead {
			s.dropped += int64(len(p))
		}
		queued := len(s.queue)
		s.mu.Unlock()
		return queued
	}
	if framed {
		var hdr [8]byte
		hdr[0] = stream
		binary.BigEndian.PutUint32(hdr[4:], uint32(len(p)))
		s.queue = append(s.queue, hdr[:]...)
	}
	s.queue = append(s.queue, p...)
	queued := len(s.queue)
	s.mu.Unlock()
	s.signal()
	return queued
}

func (s *subscriber) run(done func()) {
	defer done()
	defer s.conn.Close()
	for {
		s.mu.Lock()
		for len(s.queue) == 0 && !s.closing {
			s.mu.Unlock()
			<-s.wake
			s.mu.Lock()
		}
		if len(s.queue) == 0 {
			s.mu.Unlock()
			return
		}
		buf := s.queue
		s.queue, s.spare = s.spare[:0], nil
		closing := s.closing
		s.mu.Unlock()
		if closing {
			s.conn.SetWriteDeadline(time.Now().Add(flushTimeout))
		}
		_, err := s.conn.Write(buf)
		s.mu.Lock()
		if err != nil {
			s.dead, s.queue = true, nil
			s.mu.Unlock()
			return
		}
		if cap(buf) <= 64<<10 {
			s.spare = buf
		}
		s.mu.Unlock()
	}
}

// frameWriter writes one process's output to one connection, framed
// unless it is a terminal. Unlike the hub it applies back-pressure (an
// exec's client is its only reader); after a write error it discards.
type frameWriter struct {
	mu     sync.Mutex
	conn   net.Conn
	framed bool
	failed bool
	hdr    [8]byte
}

func (w *frameWriter) write(stream byte, p []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failed {
		return
	}
	if w.framed {
		w.hdr[0] = stream
		binary.BigEndian.PutUint32(w.hdr[4:], uint32(len(p)))
		if _, err := w.conn.Write(w.hdr[:]); err != nil {
			w.failed = true
			return
		}
	}
	if _, err := w.conn.Write(p); err != nil {
		w.failed = true
	}
}
