package main

import "github.com/berth-dev/berth/internal/errdefs"

func deleteCmd(g *globals) *command {
	var force bool
	c := newCommand("delete", "<container-id>...", "delete a stopped (or, with --force, any) container", 1, -1)
	boolFlag(c.flags, &force, "force", "f", "kill the container first if it is not stopped")
	c.run = func(args []string) error {
		for _, id := range args {
			h, err := g.store().Open(id)
			if err != nil {
				// Deleting what is gone succeeds with --force, as in runc.
				if force && errdefs.IsNotFound(err) {
					continue
				}
				return err
			}
			if err := h.Delete(force); err != nil {
				return err
			}
		}
		return nil
	}
	return c
}
