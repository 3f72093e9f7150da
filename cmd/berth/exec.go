package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func (c *cli) execCmd() *cobra.Command {
	var interactive, tty, detach, privileged bool
	var env []string
	var workdir, user string
	cmd := &cobra.Command{
		Use:   "exec [OPTIONS] CONTAINER COMMAND [ARG...]",
		Short: "Execute a command in a running container",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			for i, e := range env {
				env[i] = expandEnv(e)
			}
			req := map[string]any{"Cmd": args[1:], "Env": env, "WorkingDir": workdir, "User": user, "Tty": tty,
				"AttachStdin": interactive && !detach, "AttachStdout": !detach, "AttachStderr": !detach, "Privileged": privileged}
			var created struct {
				ID string `json:"Id"`
			}
			if err := c.api.postJSON(ctx, "/containers/"+url.PathEscape(args[0])+"/exec", nil, req, &created); err != nil {
				return err
			}
			if detach {
				return c.api.postJSON(ctx, "/exec/"+created.ID+"/start", nil, map[string]any{"Detach": true}, nil)
			}
			body, _ := json.Marshal(map[string]any{"Detach": false, "Tty": tty})
			conn, stream, err := c.api.hijack(ctx, "/exec/"+created.ID+"/start", nil, string(body))
			if err != nil {
				return err
			}
			defer conn.Close()
			if tty && term.IsTerminal(int(os.Stdin.Fd())) {
				if st, err := term.MakeRaw(int(os.Stdin.Fd())); err == nil {
					defer term.Restore(int(os.Stdin.Fd()), st)
				}
				c.resizeLoop(ctx, "/exec/"+created.ID+"/resize")
			}
			if interactive {
				go forwardStdin(conn)
			}
			if tty {
				io.Copy(os.Stdout, stream)
			} else {
				demux(stream, os.Stdout, os.Stderr)
			}
			// The exit code is recorded as the stream ends; ask until it is.
			for range 50 {
				var st struct {
					Running  bool
					ExitCode *int
				}
				if err := c.api.getJSON(ctx, "/exec/"+created.ID+"/json", nil, &st); err != nil {
					return err
				}
				if !st.Running && st.ExitCode != nil {
					if *st.ExitCode != 0 {
						return exitError{code: *st.ExitCode}
					}
					return nil
				}
				time.Sleep(20 * time.Millisecond)
			}
			return fmt.Errorf("exec %s: no exit status", created.ID)
		},
	}
	cmd.Flags().SetInterspersed(false)
	fl := cmd.Flags()
	fl.BoolVarP(&interactive, "interactive", "i", false, "keep STDIN open even if not attached")
	fl.BoolVarP(&tty, "tty", "t", false, "allocate a pseudo-TTY")
	fl.BoolVarP(&detach, "detach", "d", false, "detached mode: run command in the background")
	fl.BoolVar(&privileged, "privileged", false, "give extended privileges to the command")
	fl.StringArrayVarP(&env, "env", "e", nil, "set environment variables")
	fl.StringVarP(&workdir, "workdir", "w", "", "working directory inside the container")
	fl.StringVarP(&user, "user", "u", "", "username or UID (format: <name|uid>[:<group|gid>])")
	return cmd
}
