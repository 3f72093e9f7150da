package main

func startCmd(g *globals) *command {
	c := newCommand("start", "<container-id>", "run the user process of a created container", 1, 1)
	c.run = func(args []string) error {
		h, err := g.store().Open(args[0])
		if err != nil {
			return err
		}
		return h.Start()
	}
	return c
}
