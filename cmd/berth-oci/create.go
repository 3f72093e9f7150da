package main

import (
	"flag"

	"github.com/berth-dev/berth/internal/oci"
)

func createFlags(fs *flag.FlagSet, o *oci.CreateOpts) {
	stringFlag(fs, &o.Bundle, "bundle", "b", ".", "path to the bundle directory")
	fs.StringVar(&o.PidFile, "pid-file", "", "write the container's init pid to this file")
	fs.StringVar(&o.ConsoleSocket, "console-socket", "", "unix socket that receives the pty master")
	fs.BoolVar(&o.NoPivot, "no-pivot", false, "use MS_MOVE+chroot instead of pivot_root")
	fs.IntVar(&o.PreserveFDs, "preserve-fds", 0, "number of fds above stdio to pass to the container")
	fs.Bool("no-new-keyring", false, "accepted for runc compatibility")
}

func createCmd(g *globals) *command {
	o := &oci.CreateOpts{}
	c := newCommand("create", "<container-id>", "create a container from a bundle, stopped before the user process", 1, 1)
	createFlags(c.flags, o)
	c.run = func(args []string) error {
		o.ID, o.Systemd = args[0], g.systemd
		_, err := g.store().Create(o)
		return err
	}
	return c
}
