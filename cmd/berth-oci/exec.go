package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/oci"
)

func execCmd(g *globals) *cobra.Command {
	var (
		o                     oci.ExecOpts
		processFile, cwd, usr string
		env, addCaps          []string
		gids                  []int
		tty, detach, nnp      bool
	)
	cmd := &cobra.Command{
		Use:   "exec [flags] <container-id> [command [args...]]",
		Short: "run another process in a container",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := g.store().Open(args[0])
			if err != nil {
				return err
			}
			var p *specs.Process
			if processFile != "" {
				b, err := os.ReadFile(processFile)
				if err != nil {
					return errdefs.InvalidArgument("--process: %v", err)
				}
				p = &specs.Process{}
				if err := json.Unmarshal(b, p); err != nil {
					return errdefs.InvalidArgument("--process %s: %v", processFile, err)
				}
			} else {
				if len(args) < 2 {
					return errdefs.InvalidArgument("exec needs a command or --process")
				}
				cp := *h.Spec.Process
				p = &cp
				p.Args = args[1:]
				p.Terminal = false
			}
			if cmd.Flags().Changed("tty") {
				p.Terminal = tty
			}
			p.Env = append(append([]string(nil), p.Env...), env...)
			if cwd != "" {
				p.Cwd = cwd
			}
			if usr != "" {
				if err := parseUser(usr, &p.User); err != nil {
					return err
				}
			}
			for _, gid := range gids {
				p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(gid))
			}
			if nnp {
				p.NoNewPrivileges = true
			}
			if len(addCaps) > 0 {
				addCapabilities(p, addCaps)
			}
			o.Process = p
			code, err := h.ExecWait(&o, detach)
			if err != nil {
				return err
			}
			if code != 0 {
				return exitError(code)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false)
	f.StringVarP(&processFile, "process", "p", "", "path to a process.json")
	f.BoolVarP(&tty, "tty", "t", false, "allocate a pseudo-TTY")
	f.BoolVarP(&detach, "detach", "d", false, "do not wait for the process")
	f.StringVar(&o.PidFile, "pid-file", "", "write the process pid to this file")
	f.StringVar(&o.ConsoleSocket, "console-socket", "", "unix socket that receives the pty master")
	f.StringVar(&cwd, "cwd", "", "working directory in the container")
	f.StringArrayVarP(&env, "env", "e", nil, "set an environment variable (KEY=VALUE)")
	f.StringVarP(&usr, "user", "u", "", "uid[:gid]")
	f.IntSliceVarP(&gids, "additional-gids", "g", nil, "additional gids")
	f.StringArrayVarP(&addCaps, "cap", "c", nil, "add a capability")
	f.BoolVar(&nnp, "no-new-privs", false, "set no_new_privs")
	f.IntVar(&o.PreserveFDs, "preserve-fds", 0, "number of fds above stdio to pass")
	f.String("apparmor", "", "accepted for runc compatibility")
	f.String("process-label", "", "accepted for runc compatibility")
	f.Bool("ignore-paused", false, "accepted for runc compatibility")
	f.String("cgroup", "", "accepted for runc compatibility")
	return cmd
}

func parseUser(s string, u *specs.User) error {
	uidS, gidS, hasGid := strings.Cut(s, ":")
	uid, err := strconv.ParseUint(uidS, 10, 32)
	if err != nil {
		return errdefs.InvalidArgument("--user %q: uid must be a number", s)
	}
	u.UID = uint32(uid)
	if hasGid {
		gid, err := strconv.ParseUint(gidS, 10, 32)
		if err != nil {
			return errdefs.InvalidArgument("--user %q: gid must be a number", s)
		}
		u.GID = uint32(gid)
	}
	return nil
}

func addCapabilities(p *specs.Process, add []string) {
	c := &specs.LinuxCapabilities{}
	if p.Capabilities != nil {
		cp := *p.Capabilities
		c = &cp
	}
	for _, name := range add {
		n := strings.ToUpper(name)
		if !strings.HasPrefix(n, "CAP_") {
			n = "CAP_" + n
		}
		c.Bounding = append(c.Bounding, n)
		c.Effective = append(c.Effective, n)
		c.Permitted = append(c.Permitted, n)
		c.Inheritable = append(c.Inheritable, n)
		c.Ambient = append(c.Ambient, n)
	}
	p.Capabilities = c
}

var _ = fmt.Sprint
