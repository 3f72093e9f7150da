package main

func pauseCmd(g *globals) *command {
	c := newCommand("pause", "<container-id>", "freeze every process of a container", 1, 1)
	c.run = func(args []string) error {
		h, err := g.store().Open(args[0])
		if err != nil {
			return err
		}
		return h.Pause()
	}
	return c
}

func resumeCmd(g *globals) *command {
	c := newCommand("resume", "<container-id>", "thaw a paused container", 1, 1)
	c.run = func(args []string) error {
		h, err := g.store().Open(args[0])
		if err != nil {
			return err
		}
		return h.Resume()
	}
	return c
}
