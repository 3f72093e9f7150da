package cri

import (
	"errors"
	"path/filepath"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berth-dev/berth/internal/metadata"
)

func TestCachedAnswers(t *testing.T) {
	db, err := metadata.Open(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := &Server{Meta: db}
	calls := 0
	compute := func() (*int, error) { calls++; v := calls; return &v, nil }
	a, _ := cached(s, "k", compute)
	b, _ := cached(s, "k", compute)
	if calls != 1 || a != b {
		t.Fatalf("second call with no commit in between computed again (calls %d)", calls)
	}
	if c, _ := cached(s, "other", compute); calls != 2 || *c != 2 {
		t.Fatalf("another key: calls %d", calls)
	}
	// Any commit starts over.
	if err := db.Update(func(tx *metadata.Tx) error { _, err := tx.CreateBucketIfNotExists([]byte("x")); return err }); err != nil {
		t.Fatal(err)
	}
	if c, _ := cached(s, "k", compute); calls != 3 || *c != 3 {
		t.Fatalf("after a commit: calls %d, answer %d", calls, *c)
	}
	// Errors are not kept.
	fail := func() (*int, error) { calls++; return nil, errors.New("boom") }
	cached(s, "e", fail)
	if _, err := cached(s, "e", fail); err == nil || calls != 5 {
		t.Fatalf("errors cached: calls %d, err %v", calls, err)
	}
}

func TestFilterKey(t *testing.T) {
	var none *runtimeapi.ContainerFilter
	if k := filterKey(none); k != "" {
		t.Errorf("no filter: %q", k)
	}
	a := &runtimeapi.ContainerFilter{PodSandboxId: "p", LabelSelector: map[string]string{"a": "1", "b": "2", "c": "3"}}
	b := &runtimeapi.ContainerFilter{LabelSelector: map[string]string{"c": "3", "b": "2", "a": "1"}, PodSandboxId: "p"}
	if filterKey(a) != filterKey(b) {
		t.Error("equal filters, different keys")
	}
	if filterKey(a) == filterKey(&runtimeapi.ContainerFilter{PodSandboxId: "q", LabelSelector: a.LabelSelector}) {
		t.Error("different filters, same key")
	}
}
