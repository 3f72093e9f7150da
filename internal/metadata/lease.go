package metadata

import (
	"crypto/rand"
	"encoding/hex"
	"slices"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/errdefs"
)

// Lease protects resources that are still being built (a pull's blobs and
// snapshots) from garbage collection.
//
// Leases live in memory, not in the database: only operations of this
// process hold them, and a restart begins with none in flight, so a
// persisted lease would only be deleted at the next start (and each update
// would cost a database sync in the middle of a pull).
type Lease struct {
	ID        string
	Expires   time.Time
	Content   []string // digests
	Snapshots []string // snapshot keys
}

type leaseSet struct {
	mu sync.Mutex
	m  map[string]*Lease
}

func (db *DB) leaseSet() *leaseSet {
	db.leaseOnce.Do(func() { db.leases = &leaseSet{m: map[string]*Lease{}} })
	return db.leases
}

// CreateLease starts a lease valid for ttl.
func (db *DB) CreateLease(ttl time.Duration) (string, error) {
	var b [8]byte
	rand.Read(b[:])
	l := &Lease{ID: hex.EncodeToString(b[:]), Expires: time.Now().Add(ttl)}
	ls := db.leaseSet()
	ls.mu.Lock()
	ls.m[l.ID] = l
	ls.mu.Unlock()
	return l.ID, nil
}

func (db *DB) withLease(id string, fn func(*Lease)) error {
	ls := db.leaseSet()
	ls.mu.Lock()
	defer ls.mu.Unlock()
	l, ok := ls.m[id]
	if !ok {
		return errdefs.NotFound("lease %q: not found", id)
	}
	fn(l)
	return nil
}

// LeaseContent adds digests to a lease.
func (db *DB) LeaseContent(id string, digests ...string) error {
	return db.withLease(id, func(l *Lease) { l.Content = append(l.Content, digests...) })
}

// LeaseSnapshot adds snapshot keys to a lease.
func (db *DB) LeaseSnapshot(id string, keys ...string) error {
	return db.withLease(id, func(l *Lease) { l.Snapshots = append(l.Snapshots, keys...) })
}

// DeleteLease ends a lease.
func (db *DB) DeleteLease(id string) error {
	ls := db.leaseSet()
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if _, ok := ls.m[id]; !ok {
		return errdefs.NotFound("lease %q: not found", id)
	}
	delete(ls.m, id)
	return nil
}

// ActiveLeases returns copies of the unexpired leases and drops expired ones.
func (db *DB) ActiveLeases(now time.Time) ([]Lease, error) {
	ls := db.leaseSet()
	ls.mu.Lock()
	defer ls.mu.Unlock()
	var out []Lease
	for id, l := range ls.m {
		if now.After(l.Expires) {
			delete(ls.m, id)
			continue
		}
		c := *l
		c.Content, c.Snapshots = slices.Clone(l.Content), slices.Clone(l.Snapshots)
		out = append(out, c)
	}
	return out, nil
}
