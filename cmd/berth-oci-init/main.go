// Each start costs a container start: no cgroup-aware GOMAXPROCS probing.

//go:debug containermaxprocs=0
//go:debug updatemaxprocs=0

// Command berth-oci-init is the container-side half of berth-oci create:
// the process berth-oci forks into the container's namespaces, which sets
// up the rootfs and the process and execs it. It is the same code as
// `berth-oci init` (internal/oci, built with the berthinit tag), linked
// without cgo, libseccomp or the runtime's command line: its start-up is
// on the critical path of every container start. berth-oci uses it when
// it sits next to berth-oci and no user or mount namespace has to be
// joined (that needs the nsenter constructor, which needs cgo); otherwise
// it re-executes itself.
package main

import (
	"os"
	"runtime"

	"github.com/berth-dev/berth/internal/oci"
)

// Capsets, unshare and execve act on the calling thread: all work happens
// on the main thread.
func init() { runtime.LockOSThread() }

func main() { os.Exit(oci.Init()) }
