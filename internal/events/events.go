// Package events is Berth's publish/subscribe hub for lifecycle events
// (image pulls, container starts, ...), with a short history so clients
// can ask for events since a point in time.
package events

import (
	"context"
	"sync"
	"time"
)

// Event is one lifecycle event, close to Docker's event message.
type Event struct {
	Type       string            // image, container, network, volume, daemon
	Action     string            // pull, tag, untag, delete, create, start, die, ...
	ID         string            // the actor's ID
	Attributes map[string]string // name, image, exitCode, ...
	Time       time.Time
}

// Hub fans events out to subscribers. Slow subscribers lose events
// rather than block publishers.
type Hub struct {
	mu      sync.Mutex
	subs    map[chan Event]struct{}
	history []Event
}

const historySize = 1024

// NewHub returns an empty hub.
func NewHub() *Hub { return &Hub{subs: map[chan Event]struct{}{}} }

// Publish sends e to every subscriber.
func (h *Hub) Publish(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.history = append(h.history, e)
	if len(h.history) > historySize {
		h.history = h.history[len(h.history)-historySize:]
	}
	for ch := range h.subs {
		select {
		case ch <- e:
		default:
		}
	}
}

// Subscribe returns past events at or after since (zero: none) and a
// channel of new ones, closed when ctx ends.
func (h *Hub) Subscribe(ctx context.Context, since time.Time) ([]Event, <-chan Event) {
	ch := make(chan Event, 256)
	h.mu.Lock()
	var past []Event
	if !since.IsZero() {
		for _, e := range h.history {
			if !e.Time.Before(since) {
				past = append(past, e)
			}
		}
	}
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	context.AfterFunc(ctx, func() {
		h.mu.Lock()
		delete(h.subs, ch)
		h.mu.Unlock()
		close(ch)
	})
	return past, ch
}
