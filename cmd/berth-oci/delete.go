package main

import (
	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/errdefs"
)

func deleteCmd(g *globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "delete [flags] <container-id>...",
		Aliases: []string{"rm"},
		Short:   "delete a stopped (or, with --force, any) container",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
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
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "kill the container first if it is running")
	return cmd
}
