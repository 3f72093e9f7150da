package cri

import (
	"context"
	"sync"

	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berth-dev/berth/internal/metadata"
)

// answerCache remembers answers of the read-only calls the kubelet makes
// all the time (ImageStatus, ListImages, ContainerStatus,
// PodSandboxStatus, ListContainers, ListPodSandbox) for one version
// of the metadata, the ID of its last committed transaction: what they
// report changes only with a commit, and any commit makes the cache start
// over. Cached answers are shared, so nothing may modify them.
type answerCache struct {
	mu      sync.Mutex
	version int
	entries map[any]any
}

// maxAnswers bounds the cache between two commits.
const maxAnswers = 4096

// metaVersion is the ID of the metadata's last committed transaction.
func metaVersion(db *metadata.DB) int {
	v := -1
	db.View(func(tx *metadata.Tx) error { v = tx.ID(); return nil })
	return v
}

// cached answers from the cache, or computes and keeps the answer. The
// version is read before the answer is computed, so an answer is never
// kept under a version older than the data it saw.
func cached[T any](s *Server, key any, compute func() (T, error)) (T, error) {
	if s.Meta == nil {
		return compute()
	}
	v := metaVersion(s.Meta)
	c := &s.answers
	c.mu.Lock()
	if c.version != v || c.entries == nil {
		c.version, c.entries = v, map[any]any{}
	}
	if r, ok := c.entries[key]; ok {
		c.mu.Unlock()
		return r.(T), nil
	}
	c.mu.Unlock()
	r, err := compute()
	if err != nil {
		return r, err
	}
	c.mu.Lock()
	if c.version == v && len(c.entries) < maxAnswers {
		c.entries[key] = r
	}
	c.mu.Unlock()
	return r, nil
}

// Keys of the cached calls.
type (
	imageStatusKey struct {
		ref     string
		verbose bool
	}
	listImagesKey      struct{}
	containerStatusKey struct {
		id      string
		verbose bool
	}
	podStatusKey struct {
		id      string
		verbose bool
	}
	listKey struct {
		what, filter string
	}
)

// filterKey is a list filter as a cache key: its deterministic encoding
// ("" for none).
func filterKey(f proto.Message) string {
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(f)
	return string(b)
}

// prewarm computes the status answers the kubelet asks for right after a
// pod or a container changed (its PLEG relists), under the version the
// change committed, so the first ask is answered from the cache.
func (s *Server) prewarm(ctx context.Context, podID, containerID string) {
	// Both forms: the kubelet asks without verbose, crictl and critest with.
	for _, verbose := range []bool{false, true} {
		if podID != "" {
			s.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: podID, Verbose: verbose})
		}
		if containerID != "" {
			s.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: containerID, Verbose: verbose})
		}
	}
}
