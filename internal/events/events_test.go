package events

import (
	"context"
	"testing"
	"time"
)

func TestHub(t *testing.T) {
	h := NewHub()
	start := time.Now()
	h.Publish(Event{Type: "image", Action: "pull", ID: "a"})
	ctx, cancel := context.WithCancel(context.Background())
	past, ch := h.Subscribe(ctx, start)
	if len(past) != 1 || past[0].ID != "a" {
		t.Fatalf("history %+v", past)
	}
	h.Publish(Event{Type: "image", Action: "delete", ID: "b"})
	if e := <-ch; e.Action != "delete" {
		t.Fatalf("got %+v", e)
	}
	cancel()
	for range ch {
	}
	h.Publish(Event{Action: "after"}) // must not block or panic
}
