package main

import (
	"encoding/json"
	"os"
)

func stateCmd(g *globals) *command {
	c := newCommand("state", "<container-id>", "print the OCI state of a container", 1, 1)
	c.run = func(args []string) error {
		h, err := g.store().Open(args[0])
		if err != nil {
			return err
		}
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(h.State())
	}
	return c
}
