// Package snapshot keeps the layered filesystems that image layers are
// unpacked into and containers run on: committed (immutable) layers, active
// (writable) snapshots on top of them, and read-only views. Two
// implementations share one metadata and crash-recovery core: Overlay, which
// stacks layers with overlayfs, and Native, which copies them (for
// filesystems overlayfs cannot use).
package snapshot

import (
	"context"
	"time"
)

// Kind is the state of a snapshot.
type Kind int

const (
	// KindView is a read-only snapshot of a committed parent.
	KindView Kind = iota + 1
	// KindActive is a writable snapshot; committing turns it into a layer.
	KindActive
	// KindCommitted is an immutable layer that others can build on.
	KindCommitted
)

func (k Kind) String() string {
	switch k {
	case KindView:
		return "view"
	case KindActive:
		return "active"
	case KindCommitted:
		return "committed"
	}
	return "unknown"
}

// Info describes one snapshot. Name is the key of an active snapshot or view
// and the name of a committed one: they share one namespace.
type Info struct {
	Name    string
	Parent  string // committed parent's name, "" for none
	Kind    Kind
	Labels  map[string]string
	Created time.Time
	Updated time.Time
}

// Usage is the disk space a snapshot's own directory takes: the upper layer
// for overlay, the full copy for native. Hard-linked inodes count once.
type Usage struct {
	Size   int64 // bytes allocated on disk
	Inodes int64
}

// Snapshotter manages snapshots by key. Keys are any non-empty strings
// without NUL bytes; they are stored only in metadata, never used as paths.
type Snapshotter interface {
	Stat(ctx context.Context, key string) (Info, error)
	// Mounts returns the mounts that, applied in order onto one target,
	// give the snapshot's filesystem. Committed snapshots cannot be mounted:
	// make a View of them.
	Mounts(ctx context.Context, key string) ([]Mount, error)
	// Prepare makes a writable snapshot on top of a committed parent
	// ("" for an empty one).
	Prepare(ctx context.Context, key, parent string, labels map[string]string) ([]Mount, error)
	// View makes a read-only snapshot of a committed parent.
	View(ctx context.Context, key, parent string, labels map[string]string) ([]Mount, error)
	// Commit turns the active snapshot key into the committed one name;
	// key no longer exists afterwards. Nil labels keep the active's labels.
	// The committed snapshot's Created is the time of the commit.
	Commit(ctx context.Context, name, key string, labels map[string]string) error
	// Remove deletes a snapshot that has no children.
	Remove(ctx context.Context, key string) error
	// Walk calls fn for every snapshot, sorted by name, until fn fails.
	Walk(ctx context.Context, fn func(Info) error) error
	Usage(ctx context.Context, key string) (Usage, error)
	Close() error
}

// LabelEphemeral on an active snapshot says it is thrown away with its user
// and never needed after a power cut (docker run --rm's writable layer):
// its creation is not made durable before it is recorded, which saves a
// directory fsync. After a power cut its record may name a directory that
// is not there; removing it then works as for any other.
const LabelEphemeral = "berth.ephemeral"

// WhiteoutMode tells a layer applier how deletions must be written when it
// writes a layer straight into an active snapshot's directory.
type WhiteoutMode int

const (
	// WhiteoutOverlay: the directory is an overlayfs upper layer. A deleted
	// path becomes a character device 0:0, an opaque directory gets the
	// xattr trusted.overlay.opaque=y; the lower layers stay untouched.
	WhiteoutOverlay WhiteoutMode = iota + 1
	// WhiteoutDelete: the directory is a full copy of the parent chain. A
	// deleted path is removed; an opaque directory loses its existing content.
	WhiteoutDelete
)

func (m WhiteoutMode) String() string {
	switch m {
	case WhiteoutOverlay:
		return "overlay"
	case WhiteoutDelete:
		return "delete"
	}
	return "unknown"
}

// DirectWriter is implemented by snapshotters whose active snapshots can be
// written without mounting them, which is faster and needs no mount
// namespace: the unpacker extracts a layer into UpperDir, writing whiteouts
// as WhiteoutMode says.
type DirectWriter interface {
	// UpperDir returns the host directory holding an active snapshot's
	// writable filesystem.
	UpperDir(ctx context.Context, key string) (string, error)
	WhiteoutMode() WhiteoutMode
}
