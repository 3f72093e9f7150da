// Package nsenter joins existing namespaces in a re-executed berth-oci before
// the Go runtime starts. Importing it (for side effects) from a main package
// installs the constructor; see nsenter.c.
package nsenter

// #cgo CFLAGS: -Wall -O2
import "C"

// Env names read by the constructor.
const (
	EnvJoin    = "_BERTH_NSENTER"
	EnvUnshare = "_BERTH_UNSHARE"
	// EnvForkFD names the fd the constructor reports its child's pid on
	// when it forked into a new pid namespace.
	EnvForkFD = "_BERTH_FORKFD"
)
