package images

import (
	"context"
	"log/slog"
	"sync"

	"github.com/berth-dev/berth/internal/content"
	"github.com/berth-dev/berth/internal/metadata"
	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/snapshot"
)

// Snapshotter is what the image service needs from a snapshotter.
type Snapshotter interface {
	Stat(ctx context.Context, key string) (snapshot.Info, error)
	Prepare(ctx context.Context, key, parent string, labels map[string]string) ([]snapshot.Mount, error)
	Commit(ctx context.Context, name, key string, labels map[string]string) error
	Remove(ctx context.Context, key string) error
	Walk(ctx context.Context, fn func(snapshot.Info) error) error
	Usage(ctx context.Context, key string) (snapshot.Usage, error)
	UpperDir(ctx context.Context, key string) (string, error)
	WhiteoutMode() snapshot.WhiteoutMode
}

// Event is an image event for /events subscribers.
type Event struct {
	Action string // pull, push, tag, untag, delete, load, save, import
	ID     string // image ID or reference
	Name   string // reference involved
}

// Service is the image service.
type Service struct {
	Content   *content.Store
	Meta      *metadata.DB
	Snaps     Snapshotter
	Registry  *registry.Client
	Log       *slog.Logger
	Downloads int // concurrent layer downloads per pull (default 3)
	// Publish, if set, receives image events.
	Publish func(Event)
	// InUse, if set, reports whether containers use an image ID
	// (removal then needs force) and returns the snapshot keys they
	// hold, as GC roots.
	InUse func(id string) bool

	// SyncDirs are the directories (content, snapshots) whose
	// filesystems the background flusher syncs; see durable.go.
	SyncDirs []string

	// GCLock keeps garbage collection out while pulls and loads run: a
	// lease taken after a collection's mark, for a blob or layer that
	// was there to reuse, would not stop its sweep. Pulls share it
	// (RLock); the collector takes it whole (gc.Collector.Lock).
	GCLock sync.RWMutex

	syncReq chan struct{}
}

// holdGC keeps collections out until the returned func is called.
func (s *Service) holdGC() func() {
	s.GCLock.RLock()
	return s.GCLock.RUnlock
}

func (s *Service) publish(action, id, name string) {
	if s.Publish != nil {
		s.Publish(Event{Action: action, ID: id, Name: name})
	}
}

func (s *Service) log() *slog.Logger {
	if s.Log == nil {
		return slog.Default()
	}
	return s.Log
}
