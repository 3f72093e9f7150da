package main

import "github.com/berth-dev/berth/internal/oci"

func runCmd(g *globals) *command {
	o := &oci.CreateOpts{}
	var detach bool
	c := newCommand("run", "<container-id>", "create and start a container; in the foreground, wait and delete it", 1, 1)
	createFlags(c.flags, o)
	boolFlag(c.flags, &detach, "detach", "d", "return once the container started")
	c.flags.Bool("keep", false, "accepted for runc compatibility")
	c.run = func(args []string) error {
		o.ID, o.Systemd = args[0], g.systemd
		code, err := g.store().Run(o, detach)
		if err != nil {
			return err
		}
		if code != 0 {
			return exitError(code)
		}
		return nil
	}
	return c
}
