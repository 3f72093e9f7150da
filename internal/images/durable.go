package images

import (
	"context"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/metadata"
)

// Durability without a flush per layer: pulls write blobs and layers
// without fsync and record the image as unsynced, tagged with the kernel's
// boot ID; one syncfs per pull, off the pull's critical path, then marks
// it synced. After a daemon crash the page cache still holds everything
// (same boot ID: sync and keep); after a power cut (new boot ID) the
// unsynced images may hold truncated files and are forgotten, so GC
// removes their data and a later pull fetches it again.

// bootID identifies this boot of the kernel.
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

// StartSyncer runs the background flusher until ctx ends. Without it
// (SyncDirs empty) every layer and blob is flushed as it is committed.
func (s *Service) StartSyncer(ctx context.Context) {
	s.syncReq = make(chan struct{}, 1)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.syncReq:
			}
			// Let a burst of pulls finish before the flush.
			time.Sleep(200 * time.Millisecond)
			if err := s.Flush(); err != nil {
				s.log().Warn("flushing pulled images", "err", err)
			}
		}
	}()
}

func (s *Service) scheduleSync() {
	if s.syncReq == nil {
		return
	}
	select {
	case s.syncReq <- struct{}{}:
	default:
	}
}

// Flush makes every image recorded so far durable.
func (s *Service) Flush() error {
	var pending []string
	s.Meta.View(func(tx *metadata.Tx) error {
		return imagesTable.Each(tx, func(k string, img Image) error {
			if img.Unsynced != "" {
				pending = append(pending, k)
			}
			return nil
		})
	})
	if len(pending) == 0 {
		return nil
	}
	for _, dir := range s.SyncDirs {
		if err := syncfs(dir); err != nil {
			return err
		}
	}
	return s.Meta.Update(func(tx *metadata.Tx) error {
		for _, k := range pending {
			img, err := imagesTable.Get(tx, k)
			if err != nil {
				continue // removed meanwhile
			}
			img.Unsynced = ""
			if err := imagesTable.Put(tx, k, img); err != nil {
				return err
			}
		}
		return nil
	})
}

// Recover runs at daemon start: images whose flush a crash interrupted
// are flushed now if the kernel kept running, and forgotten if it did not.
func (s *Service) Recover(ctx context.Context) error {
	boot := bootID()
	var lost []string
	s.Meta.View(func(tx *metadata.Tx) error {
		return imagesTable.Each(tx, func(k string, img Image) error {
			if img.Unsynced != "" && img.Unsynced != boot {
				lost = append(lost, k)
			}
			return nil
		})
	})
	for _, id := range lost {
		s.log().Warn("forgetting an image whose data may not have reached the disk before a power loss; pull it again", "id", id)
		if _, err := s.Remove(ctx, id, true); err != nil {
			return err
		}
	}
	return s.Flush()
}

func syncfs(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}
