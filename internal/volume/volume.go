// Package volume manages named volumes: directories under
// /var/lib/berth/volumes/<name>/_data that outlive containers, recorded in
// the metadata store, with the "local" driver's semantics.
package volume

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/metadata"
)

// Volume is one named volume.
type Volume struct {
	Name       string            `json:"name"`
	Driver     string            `json:"driver"`
	Mountpoint string            `json:"mountpoint"`
	CreatedAt  time.Time         `json:"createdAt"`
	Labels     map[string]string `json:"labels,omitempty"`
	Options    map[string]string `json:"options,omitempty"`
	// Anonymous volumes come from an image's VOLUME list; rm -v and --rm
	// remove them with their container.
	Anonymous bool `json:"anonymous,omitempty"`
}

var table = metadata.NewTable[Volume]("volumes", "volume")

var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// Store creates and removes volumes.
type Store struct {
	Meta *metadata.DB
	Root string // /var/lib/berth/volumes
	// InUse returns the IDs of containers using a volume.
	InUse func(name string) []string

	mu sync.Mutex
}

// Create makes a volume (an existing one with that name is returned as is,
// as Docker does).
func (s *Store) Create(name, driver string, labels, opts map[string]string, anonymous bool) (Volume, error) {
	if driver == "" {
		driver = "local"
	}
	if driver != "local" {
		return Volume{}, errdefs.NotFound("plugin %q not found: only the local volume driver exists", driver)
	}
	if len(opts) > 0 {
		return Volume{}, errdefs.NotImplemented("local volume options (type, device, o) are not supported yet")
	}
	if name == "" {
		var b [32]byte
		rand.Read(b[:])
		name = hex.EncodeToString(b[:])
	} else if !validName.MatchString(name) {
		return Volume{}, errdefs.InvalidArgument("%q includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var v Volume
	err := s.Meta.Update(func(tx *metadata.Tx) error {
		if old, err := table.Get(tx, name); err == nil {
			v = old
			return nil
		}
		v = Volume{Name: name, Driver: driver, Mountpoint: filepath.Join(s.Root, name, "_data"), CreatedAt: time.Now().UTC(), Labels: labels, Anonymous: anonymous}
		if err := os.MkdirAll(v.Mountpoint, 0o755); err != nil {
			return fmt.Errorf("create volume %s: %w", name, err)
		}
		return table.Put(tx, name, v)
	})
	return v, err
}

// Get returns a volume.
func (s *Store) Get(name string) (Volume, error) {
	var v Volume
	err := s.Meta.View(func(tx *metadata.Tx) (err error) {
		v, err = table.Get(tx, name)
		if err != nil {
			err = errdefs.NotFound("get %s: no such volume", name)
		}
		return err
	})
	return v, err
}

// List returns every volume, by name.
func (s *Store) List() ([]Volume, error) {
	var out []Volume
	err := s.Meta.View(func(tx *metadata.Tx) error {
		return table.Each(tx, func(_ string, v Volume) error { out = append(out, v); return nil })
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// Remove deletes a volume and its data; a volume in use needs force, and
// even then Docker refuses, so do we.
func (s *Store) Remove(ctx context.Context, name string, force bool) error {
	if users := s.users(name); len(users) > 0 {
		return errdefs.Conflict("remove %s: volume is in use - [%s]", name, joinIDs(users))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.Meta.Update(func(tx *metadata.Tx) error {
		if err := table.Delete(tx, name); err != nil {
			if force {
				return nil
			}
			return errdefs.NotFound("get %s: no such volume", name)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return os.RemoveAll(filepath.Join(s.Root, name))
}

func (s *Store) users(name string) []string {
	if s.InUse == nil {
		return nil
	}
	return s.InUse(name)
}

func joinIDs(ids []string) string {
	out := ""
	for i, id := range ids {
		if i > 0 {
			out += ", "
		}
		out += id
	}
	return out
}

// Prune removes unused volumes: anonymous ones, or all with all.
func (s *Store) Prune(ctx context.Context, all bool) ([]string, uint64, error) {
	list, err := s.List()
	if err != nil {
		return nil, 0, err
	}
	var removed []string
	var space uint64
	for _, v := range list {
		if (!v.Anonymous && !all) || len(s.users(v.Name)) > 0 {
			continue
		}
		size := dirSize(v.Mountpoint)
		if err := s.Remove(ctx, v.Name, false); err == nil {
			removed = append(removed, v.Name)
			space += uint64(size)
		}
	}
	return removed, space, nil
}

func dirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// Size reports a volume's bytes (for system df).
func Size(v Volume) int64 { return dirSize(v.Mountpoint) }
