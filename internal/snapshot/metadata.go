package snapshot

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	bolt "go.etcd.io/bbolt"
)

// record is one snapshot as stored in the metadata database.
type record struct {
	ID      uint64            `json:"id"` // names the directory snapshots/<id>
	Parent  string            `json:"parent,omitempty"`
	Kind    Kind              `json:"kind"`
	Labels  map[string]string `json:"labels,omitempty"`
	Created time.Time         `json:"created"`
	Updated time.Time         `json:"updated"`
	// Usage of a committed snapshot, measured once at commit since its
	// directory no longer changes.
	Size   int64 `json:"size,omitempty"`
	Inodes int64 `json:"inodes,omitempty"`
}

func (r record) info(name string) Info {
	return Info{Name: name, Parent: r.Parent, Kind: r.Kind, Labels: maps.Clone(r.Labels), Created: r.Created, Updated: r.Updated}
}

// The schema version is in the bucket names, so a future layout can live
// beside this one while it is migrated.
var (
	bucketSnapshots = []byte("v1.snapshots") // name -> JSON record; its sequence allocates ids
	bucketChildren  = []byte("v1.children")  // parent NUL child -> empty, to find children without a scan
)

// meta wraps a bbolt transaction with the operations on snapshot records.
type meta struct{ tx *bolt.Tx }

func initMeta(tx *bolt.Tx) error {
	for _, b := range [][]byte{bucketSnapshots, bucketChildren} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	return nil
}

func childKey(parent, child string) []byte {
	return append(append([]byte(parent), 0), child...)
}

func (m meta) get(name string) (record, bool, error) {
	v := m.tx.Bucket(bucketSnapshots).Get([]byte(name))
	if v == nil {
		return record{}, false, nil
	}
	var r record
	if err := json.Unmarshal(v, &r); err != nil {
		return record{}, false, fmt.Errorf("decode snapshot %q: %w", name, err)
	}
	return r, true, nil
}

func (m meta) put(name string, r record) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := m.tx.Bucket(bucketSnapshots).Put([]byte(name), v); err != nil {
		return err
	}
	if r.Parent == "" {
		return nil
	}
	return m.tx.Bucket(bucketChildren).Put(childKey(r.Parent, name), nil)
}

func (m meta) delete(name string, r record) error {
	if err := m.tx.Bucket(bucketSnapshots).Delete([]byte(name)); err != nil {
		return err
	}
	if r.Parent == "" {
		return nil
	}
	return m.tx.Bucket(bucketChildren).Delete(childKey(r.Parent, name))
}

// child returns one child of name, if there is any.
func (m meta) child(name string) (string, bool) {
	prefix := childKey(name, "")
	k, _ := m.tx.Bucket(bucketChildren).Cursor().Seek(prefix)
	if k == nil || !bytes.HasPrefix(k, prefix) {
		return "", false
	}
	return string(k[len(prefix):]), true
}

func (m meta) nextID() (uint64, error) {
	return m.tx.Bucket(bucketSnapshots).NextSequence()
}

// chain returns the committed snapshots from parent down to the base layer,
// nearest first (the order overlayfs wants its lower directories in).
func (m meta) chain(parent string) ([]record, error) {
	var out []record
	for name := parent; name != ""; {
		r, ok, err := m.get(name)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("snapshot chain broken: parent %q is missing", name)
		}
		out = append(out, r)
		name = r.Parent
	}
	return out, nil
}

func (m meta) forEach(fn func(name string, r record) error) error {
	return m.tx.Bucket(bucketSnapshots).ForEach(func(k, v []byte) error {
		var r record
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("decode snapshot %q: %w", k, err)
		}
		return fn(string(k), r)
	})
}
