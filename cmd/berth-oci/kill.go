package main

import (
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/oci"
)

func killCmd(g *globals) *command {
	var all bool
	c := newCommand("kill", "<container-id> [signal]", "send a signal (default SIGTERM) to a container's init", 1, 2)
	boolFlag(c.flags, &all, "all", "a", "signal every process in the container")
	c.run = func(args []string) error {
		sig := unix.SIGTERM
		if len(args) == 2 {
			var err error
			if sig, err = oci.ParseSignal(args[1]); err != nil {
				return err
			}
		}
		h, err := g.store().Open(args[0])
		if err != nil {
			return err
		}
		return h.Kill(sig, all)
	}
	return c
}
