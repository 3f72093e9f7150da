package main

import (
	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/oci"
)

func runCmd(g *globals) *cobra.Command {
	o := &oci.CreateOpts{}
	var detach bool
	cmd := &cobra.Command{
		Use:   "run [flags] <container-id>",
		Short: "create and start a container; in the foreground, wait and delete it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.ID, o.Systemd = args[0], g.systemd
			code, err := g.store().Run(o, detach)
			if err != nil {
				return err
			}
			if code != 0 {
				return exitError(code)
			}
			return nil
		},
	}
	createFlags(cmd, o)
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "return once the container started")
	cmd.Flags().Bool("keep", false, "accepted for runc compatibility")
	return cmd
}
