// Command berth-shim supervises one container for berthd: it holds the
// container's stdio or terminal, writes its log, reaps its processes and
// keeps its exit status, and serves a small control socket in its state
// directory. It never depends on berthd, which may restart and reconnect.
// See internal/shim for the protocol.
package main

import (
	"os"
	"runtime"
	"runtime/debug"

	"github.com/berth-dev/berth/internal/shim"
)

// version is set by the Makefile.
var version = "dev"

func main() {
	// One shim per container: keep each small. Its heap is a few hundred
	// KiB, so collecting at half its size again costs little; one P is
	// plenty for a process that mostly sleeps in the poller.
	debug.SetGCPercent(25)
	runtime.GOMAXPROCS(1)
	if len(os.Args) == 2 && os.Args[1] == "pause" {
		os.Exit(shim.Pause())
	}
	os.Exit(shim.Main(os.Args[1:], version))
}
