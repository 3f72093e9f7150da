package main

import (
	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/oci"
)

func createFlags(cmd *cobra.Command, o *oci.CreateOpts) {
	f := cmd.Flags()
	f.StringVarP(&o.Bundle, "bundle", "b", ".", "path to the bundle directory")
	f.StringVar(&o.PidFile, "pid-file", "", "write the container's init pid to this file")
	f.StringVar(&o.ConsoleSocket, "console-socket", "", "unix socket that receives the pty master")
	f.BoolVar(&o.NoPivot, "no-pivot", false, "use MS_MOVE+chroot instead of pivot_root")
	f.IntVar(&o.PreserveFDs, "preserve-fds", 0, "number of fds above stdio to pass to the container")
	f.Bool("no-new-keyring", false, "accepted for runc compatibility")
}

func createCmd(g *globals) *cobra.Command {
	o := &oci.CreateOpts{}
	cmd := &cobra.Command{
		Use:   "create [flags] <container-id>",
		Short: "create a container from a bundle, stopped before the user process",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.ID, o.Systemd = args[0], g.systemd
			_, err := g.store().Create(o)
			return err
		},
	}
	createFlags(cmd, o)
	return cmd
}
