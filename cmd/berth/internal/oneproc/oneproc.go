// Package oneproc gives the CLI one P before the other packages initialise.
//
// The CLI waits on the daemon: one P keeps idle threads from spinning for
// work at every wake-up, CPU that berthd and the container's processes need
// on a small machine. Lowering GOMAXPROCS frees the other Ps' span caches
// into span sets allocated on the spot (a page fault each, ~140 of them,
// ~0.4 ms when it ran in main), so it is done as early as a package can:
// this one imports nothing that initialises, and main imports it first.
// An explicit GOMAXPROCS setting wins.
package oneproc

import (
	"runtime"
	"syscall"
)

func init() {
	if _, ok := syscall.Getenv("GOMAXPROCS"); !ok {
		runtime.GOMAXPROCS(1)
	}
}
