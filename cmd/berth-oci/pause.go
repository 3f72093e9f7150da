package main

import "github.com/spf13/cobra"

func pauseCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "pause <container-id>",
		Short: "freeze every process of a container",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := g.store().Open(args[0])
			if err != nil {
				return err
			}
			return h.Pause()
		},
	}
}

func resumeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "resume <container-id>",
		Short: "thaw a paused container",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := g.store().Open(args[0])
			if err != nil {
				return err
			}
			return h.Resume()
		},
	}
}
