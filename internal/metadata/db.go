// Package metadata keeps Berth's records (images, names, leases, and later
// containers, volumes, networks) in one embedded bbolt database. Records
// are JSON in one bucket per kind; a Table gives typed access.
package metadata

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/berth-dev/berth/internal/errdefs"
)

// DB is the metadata database.
type DB struct {
	bolt *bolt.DB

	leaseOnce sync.Once
	leases    *leaseSet
}

// Open opens (creating) the database. bbolt's file lock makes a second
// daemon on the same root fail here instead of corrupting state.
func Open(path string) (*DB, error) {
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 500 * time.Millisecond})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, errdefs.Conflict("metadata %s is locked: another berthd is running on this root", path)
		}
		return nil, fmt.Errorf("open metadata %s: %w", path, err)
	}
	return &DB{bolt: b}, nil
}

// Close closes the database.
func (db *DB) Close() error { return db.bolt.Close() }

// Tx is a transaction handle passed to Update and View callbacks.
type Tx = bolt.Tx

// Update runs fn in a read-write transaction.
func (db *DB) Update(fn func(*Tx) error) error { return db.bolt.Update(fn) }

// View runs fn in a read-only transaction.
func (db *DB) View(fn func(*Tx) error) error { return db.bolt.View(fn) }

// Table is a typed bucket of JSON records keyed by string.
type Table[T any] struct {
	name []byte
	kind string // for error messages: "image", "lease"
}

// NewTable names a bucket holding records of type T.
func NewTable[T any](bucket, kind string) Table[T] {
	return Table[T]{name: []byte(bucket), kind: kind}
}

// Get reads key; NotFound when absent.
func (t Table[T]) Get(tx *Tx, key string) (T, error) {
	var v T
	b := tx.Bucket(t.name)
	var raw []byte
	if b != nil {
		raw = b.Get([]byte(key))
	}
	if raw == nil {
		return v, errdefs.NotFound("%s %q: not found", t.kind, key)
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, fmt.Errorf("%s %q: corrupt record: %w", t.kind, key, err)
	}
	return v, nil
}

// Has reports whether key exists.
func (t Table[T]) Has(tx *Tx, key string) bool {
	b := tx.Bucket(t.name)
	return b != nil && b.Get([]byte(key)) != nil
}

// Put writes key (tx must be writable).
func (t Table[T]) Put(tx *Tx, key string, v T) error {
	b, err := tx.CreateBucketIfNotExists(t.name)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put([]byte(key), raw)
}

// Delete removes key; NotFound when absent.
func (t Table[T]) Delete(tx *Tx, key string) error {
	b := tx.Bucket(t.name)
	if b == nil || b.Get([]byte(key)) == nil {
		return errdefs.NotFound("%s %q: not found", t.kind, key)
	}
	return b.Delete([]byte(key))
}

// Each calls fn for every record in key order.
func (t Table[T]) Each(tx *Tx, fn func(key string, v T) error) error {
	b := tx.Bucket(t.name)
	if b == nil {
		return nil
	}
	return b.ForEach(func(k, raw []byte) error {
		var v T
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("%s %q: corrupt record: %w", t.kind, k, err)
		}
		return fn(string(k), v)
	})
}

// Keys lists every key.
func (t Table[T]) Keys(tx *Tx) []string {
	var out []string
	if b := tx.Bucket(t.name); b != nil {
		b.ForEach(func(k, _ []byte) error { out = append(out, string(k)); return nil })
	}
	return out
}
