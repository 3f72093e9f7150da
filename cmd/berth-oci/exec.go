package main

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/oci"
)

func execCmd(g *globals) *command {
	var (
		o                     oci.ExecOpts
		processFile, cwd, usr string
		env, addCaps          listFlag
		gids                  intsFlag
		tty, detach, nnp      bool
	)
	c := newCommand("exec", "<container-id> [command [args...]]", "run another process in a container", 1, -1)
	fs := c.flags
	stringFlag(fs, &processFile, "process", "p", "", "path to a process.json")
	boolFlag(fs, &tty, "tty", "t", "allocate a pseudo-TTY")
	boolFlag(fs, &detach, "detach", "d", "do not wait for the process")
	fs.StringVar(&o.PidFile, "pid-file", "", "write the process pid to this file")
	fs.StringVar(&o.ConsoleSocket, "console-socket", "", "unix socket that receives the pty master")
	fs.StringVar(&cwd, "cwd", "", "working directory in the container")
	fs.Var(&env, "env", "set an environment variable (KEY=VALUE); repeatable")
	fs.Var(&env, "e", "same as --env")
	stringFlag(fs, &usr, "user", "u", "", "uid[:gid]")
	fs.Var(&gids, "additional-gids", "additional gids; repeatable or comma-separated")
	fs.Var(&gids, "g", "same as --additional-gids")
	fs.Var(&addCaps, "cap", "add a capability; repeatable")
	fs.Var(&addCaps, "c", "same as --cap")
	fs.BoolVar(&nnp, "no-new-privs", false, "set no_new_privs")
	fs.IntVar(&o.PreserveFDs, "preserve-fds", 0, "number of fds above stdio to pass")
	fs.String("apparmor", "", "accepted for runc compatibility")
	fs.String("process-label", "", "accepted for runc compatibility")
	fs.Bool("ignore-paused", false, "accepted for runc compatibility")
	fs.String("cgroup", "", "accepted for runc compatibility")
	c.run = func(args []string) error {
		h, err := g.store().Open(args[0])
		if err != nil {
			return err
		}
		set := setFlags(fs)
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
		if set["tty"] || set["t"] {
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
	}
	return c
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
