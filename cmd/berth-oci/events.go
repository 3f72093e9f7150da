package main

import (
	"encoding/json"
	"os"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/oci"
)

// event is runc's `events` line.
type event struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Data any    `json:"data,omitempty"`
}

func eventsCmd(g *globals) *command {
	var stats bool
	var interval time.Duration
	c := newCommand("events", "<container-id>", "print container statistics, once (--stats) or every --interval, and OOM kills", 1, 1)
	c.flags.BoolVar(&stats, "stats", false, "print statistics once and exit")
	c.flags.DurationVar(&interval, "interval", 5*time.Second, "time between statistics")
	c.run = func(args []string) error {
		h, err := g.store().Open(args[0])
		if err != nil {
			return err
		}
		enc := json.NewEncoder(os.Stdout)
		var mu sync.Mutex
		emit := func(e event) error {
			mu.Lock()
			defer mu.Unlock()
			return enc.Encode(e)
		}
		if !stats {
			// OOM kills are reported as they happen, between stats.
			if cg, err := h.Cgroup(); err == nil {
				if w, err := cg.WatchOOM(); err == nil {
					defer w.Close()
					go func() {
						for w.Wait() == nil {
							if h.Status() == oci.Stopped {
								return
							}
							emit(event{Type: "oom", ID: h.Record.ID})
						}
					}()
				}
			}
		}
		for {
			if h.Status() == oci.Stopped {
				return nil
			}
			cg, err := h.Cgroup()
			if err != nil {
				return err
			}
			st, err := cg.Stats()
			if err != nil {
				return err
			}
			if err := emit(event{Type: "stats", ID: h.Record.ID, Data: st}); err != nil {
				return err
			}
			if stats {
				return nil
			}
			time.Sleep(interval)
		}
	}
	return c
}
