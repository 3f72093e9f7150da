package metadata

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// Lease protects resources that are still being built (a pull's blobs and
// snapshots) from garbage collection. A lease left by a crash expires.
type Lease struct {
	ID        string    `json:"id"`
	Expires   time.Time `json:"expires"`
	Content   []string  `json:"content,omitempty"`   // digests
	Snapshots []string  `json:"snapshots,omitempty"` // snapshot keys
}

var leases = NewTable[Lease]("leases", "lease")

// CreateLease starts a lease valid for ttl.
func (db *DB) CreateLease(ttl time.Duration) (string, error) {
	var b [8]byte
	rand.Read(b[:])
	l := Lease{ID: hex.EncodeToString(b[:]), Expires: time.Now().Add(ttl)}
	return l.ID, db.Update(func(tx *Tx) error { return leases.Put(tx, l.ID, l) })
}

// LeaseContent adds digests to a lease.
func (db *DB) LeaseContent(id string, digests ...string) error {
	return db.Update(func(tx *Tx) error {
		l, err := leases.Get(tx, id)
		if err != nil {
			return err
		}
		l.Content = append(l.Content, digests...)
		return leases.Put(tx, id, l)
	})
}

// LeaseSnapshot adds snapshot keys to a lease.
func (db *DB) LeaseSnapshot(id string, keys ...string) error {
	return db.Update(func(tx *Tx) error {
		l, err := leases.Get(tx, id)
		if err != nil {
			return err
		}
		l.Snapshots = append(l.Snapshots, keys...)
		return leases.Put(tx, id, l)
	})
}

// DeleteLease ends a lease.
func (db *DB) DeleteLease(id string) error {
	return db.Update(func(tx *Tx) error { return leases.Delete(tx, id) })
}

// ActiveLeases returns unexpired leases and deletes expired ones.
func (db *DB) ActiveLeases(now time.Time) ([]Lease, error) {
	var out []Lease
	err := db.Update(func(tx *Tx) error {
		var expired []string
		if err := leases.Each(tx, func(k string, l Lease) error {
			if now.After(l.Expires) {
				expired = append(expired, k)
			} else {
				out = append(out, l)
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range expired {
			leases.Delete(tx, k)
		}
		return nil
	})
	return out, err
}
