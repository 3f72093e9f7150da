package main

import "github.com/spf13/cobra"

func startCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "start <container-id>",
		Short: "run the user process of a created container",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := g.store().Open(args[0])
			if err != nil {
				return err
			}
			return h.Start()
		},
	}
}
