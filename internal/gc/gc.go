// Package gc collects garbage across the content store and the
// snapshotter: whatever no root (image, container, lease) reaches is
// deleted. Mark and sweep; nothing is deleted that a root names.
package gc

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/internal/content"
	"github.com/berth-dev/berth/internal/snapshot"
)

// Roots are the live resources a source names.
type Roots struct {
	Content   map[digest.Digest]bool
	Snapshots map[string]bool
}

// NewRoots returns empty root sets.
func NewRoots() Roots {
	return Roots{Content: map[digest.Digest]bool{}, Snapshots: map[string]bool{}}
}

// Source adds its roots (images, containers, leases) to r.
type Source func(ctx context.Context, r Roots) error

// Snapshotter is what collection needs from a snapshotter.
type Snapshotter interface {
	Walk(ctx context.Context, fn func(snapshot.Info) error) error
	Remove(ctx context.Context, key string) error
}

// Collector deletes what no source names.
type Collector struct {
	Content *content.Store
	Snaps   Snapshotter
	Sources []Source
	// IngestAge is how long an idle partial download is kept for a
	// resume before it is collected.
	IngestAge time.Duration
	Log       *slog.Logger
	// Lock, if set, is held for a whole collection (mark to sweep):
	// pulls hold it shared, so nothing they lease or find to reuse is
	// swept under them.
	Lock sync.Locker
}

// Stats reports one collection.
type Stats struct {
	Blobs, Snapshots, Ingests int
	Bytes                     int64
}

// Collect runs one mark-and-sweep.
func (c *Collector) Collect(ctx context.Context) (Stats, error) {
	if c.Lock != nil {
		c.Lock.Lock()
		defer c.Lock.Unlock()
	}
	var st Stats
	roots := NewRoots()
	for _, src := range c.Sources {
		if err := src(ctx, roots); err != nil {
			return st, fmt.Errorf("gc: mark: %w", err)
		}
	}
	var dead []content.Info
	if err := c.Content.Walk(ctx, func(i content.Info) error {
		if !roots.Content[i.Digest] {
			dead = append(dead, i)
		}
		return nil
	}); err != nil {
		return st, fmt.Errorf("gc: walk content: %w", err)
	}
	for _, i := range dead {
		if err := c.Content.Delete(ctx, i.Digest); err == nil {
			st.Blobs++
			st.Bytes += i.Size
		}
	}
	n, err := c.sweepSnapshots(ctx, roots.Snapshots)
	st.Snapshots = n
	if err != nil {
		return st, err
	}
	if ins, err := c.Content.Ingests(); err == nil {
		for _, in := range ins {
			if in.Digest.Validate() == nil && time.Since(in.Updated) < c.IngestAge {
				continue // kept for a resume
			}
			if c.Content.AbortIngest(in.Digest) == nil {
				st.Ingests++
			}
		}
	}
	if c.Log != nil && (st.Blobs+st.Snapshots+st.Ingests) > 0 {
		c.Log.Info("garbage collected", "blobs", st.Blobs, "bytes", st.Bytes, "snapshots", st.Snapshots, "ingests", st.Ingests)
	}
	return st, nil
}

// sweepSnapshots removes unreferenced snapshots, children first. A live
// snapshot keeps its whole parent chain.
func (c *Collector) sweepSnapshots(ctx context.Context, live map[string]bool) (int, error) {
	parent := map[string]string{}
	if err := c.Snaps.Walk(ctx, func(i snapshot.Info) error {
		parent[i.Name] = i.Parent
		return nil
	}); err != nil {
		return 0, fmt.Errorf("gc: walk snapshots: %w", err)
	}
	keep := map[string]bool{}
	for name := range parent {
		if !live[name] {
			continue
		}
		for n := name; n != "" && !keep[n]; n = parent[n] {
			keep[n] = true
		}
	}
	children := map[string]int{}
	for _, p := range parent {
		if p != "" {
			children[p]++
		}
	}
	removed := 0
	for progress := true; progress; {
		progress = false
		for name, p := range parent {
			if keep[name] || children[name] > 0 {
				continue
			}
			if err := c.Snaps.Remove(ctx, name); err != nil {
				c.logf("gc: remove snapshot", "key", name, "err", err)
				keep[name] = true
				continue
			}
			delete(parent, name)
			if p != "" {
				children[p]--
			}
			removed++
			progress = true
		}
	}
	return removed, nil
}

func (c *Collector) logf(msg string, args ...any) {
	if c.Log != nil {
		c.Log.Warn(msg, args...)
	}
}
