package metadata

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/errdefs"
)

type rec struct{ A string }

func TestTable(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tab := NewTable[rec]("recs", "rec")
	err = db.Update(func(tx *Tx) error {
		if _, err := tab.Get(tx, "x"); !errdefs.IsNotFound(err) {
			t.Errorf("get missing: %v", err)
		}
		tab.Put(tx, "b", rec{"2"})
		return tab.Put(tx, "a", rec{"1"})
	})
	if err != nil {
		t.Fatal(err)
	}
	db.View(func(tx *Tx) error {
		v, err := tab.Get(tx, "a")
		if err != nil || v.A != "1" {
			t.Errorf("get: %+v %v", v, err)
		}
		if keys := tab.Keys(tx); len(keys) != 2 || keys[0] != "a" {
			t.Errorf("keys %v", keys)
		}
		return nil
	})
	db.Update(func(tx *Tx) error {
		if err := tab.Delete(tx, "a"); err != nil {
			t.Error(err)
		}
		if err := tab.Delete(tx, "a"); !errdefs.IsNotFound(err) {
			t.Errorf("double delete: %v", err)
		}
		return nil
	})
}

func TestSecondOpenRefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m.db")
	db, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := Open(p); !errdefs.IsConflict(err) {
		t.Fatalf("second open: %v", err)
	}
}

func TestLeases(t *testing.T) {
	db, _ := Open(filepath.Join(t.TempDir(), "m.db"))
	defer db.Close()
	keep, _ := db.CreateLease(time.Hour)
	gone, _ := db.CreateLease(time.Millisecond)
	db.LeaseContent(keep, "sha256:a")
	db.LeaseSnapshot(keep, "s1")
	ls, err := db.ActiveLeases(time.Now().Add(time.Second))
	if err != nil || len(ls) != 1 || ls[0].ID != keep || ls[0].Content[0] != "sha256:a" || ls[0].Snapshots[0] != "s1" {
		t.Fatalf("leases %+v %v", ls, err)
	}
	if err := db.DeleteLease(gone); !errdefs.IsNotFound(err) {
		t.Errorf("expired lease not collected: %v", err)
	}
}
