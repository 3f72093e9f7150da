package shim

import (
	"os"
	"os/signal"

	"golang.org/x/sys/unix"
)

// Pause is `berth-shim pause`: the first process of a pod's shared PID
// namespace (the CRI's), which must live as long as the pod. As that
// namespace's init it reaps the orphans its processes leave; it exits 0
// on SIGTERM or SIGINT.
func Pause() int {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT, unix.SIGCHLD)
	for s := range sigs {
		if s != unix.SIGCHLD {
			return 0
		}
		for {
			var ws unix.WaitStatus
			if pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil); pid <= 0 || err != nil {
				break
			}
		}
	}
	return 0
}
