// Command berth is Berth's docker-compatible CLI. It talks to berthd over
// the Docker Engine API, so its commands, flags and output follow docker's.
package main

import (
	_ "github.com/berth-dev/berth/cmd/berth/internal/oneproc" // first: see there

	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

var version = "dev"

// cli is the state every command shares.
type cli struct {
	host   string
	config string // docker config dir (credentials)
	api    *client
}

func main() {
	c := &cli{}
	root := &cobra.Command{
		Use:           "berth [OPTIONS] COMMAND",
		Short:         "A docker-compatible CLI for the Berth container engine",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			c.api = newClient(c.host)
			return nil
		},
	}
	root.PersistentFlags().StringVarP(&c.host, "host", "H", defaultHost(), "daemon socket to connect to")
	root.PersistentFlags().StringVar(&c.config, "config", defaultConfigDir(), "location of client config files")
	root.SetVersionTemplate("Berth version {{.Version}}\n")

	// Only the command asked for is built when it can be told from the
	// arguments: building all of them (docker run alone has ~100 flags,
	// and it is built twice) was a good part of the CLI's start-up.
	cmds := c.commands()
	if verb := firstArg(os.Args[1:]); verb != "" {
		for _, m := range cmds {
			if m.name == verb {
				if cmd := m.make(); cmd.Name() == verb {
					root.AddCommand(cmd)
				}
				break
			}
		}
	}
	if !root.HasSubCommands() {
		for _, m := range cmds {
			root.AddCommand(m.make())
		}
	}
	if err := root.Execute(); err != nil {
		var ex exitError
		if errors.As(err, &ex) {
			os.Exit(ex.code)
		}
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

// namedCmd is a top-level command and how to build it.
type namedCmd struct {
	name string
	make func() *cobra.Command
}

// commands lists the top-level commands.
func (c *cli) commands() []namedCmd {
	one := func(name string, mk func() *cobra.Command) namedCmd { return namedCmd{name, mk} }
	stop := func(name, path, short string) func() *cobra.Command {
		return func() *cobra.Command { return c.stopCmd(name, path, short) }
	}
	simple := func(use, short, path string) func() *cobra.Command {
		return func() *cobra.Command { return c.simpleCmd(use, short, path, nil, nil) }
	}
	return []namedCmd{
		one("pull", c.pullCmd), one("push", c.pushCmd), one("images", c.imagesCmd), one("rmi", c.rmiCmd),
		one("tag", c.tagCmd), one("save", c.saveCmd), one("load", c.loadCmd), one("history", c.historyCmd),
		one("inspect", c.inspectCmd), one("login", c.loginCmd), one("logout", c.logoutCmd),
		one("version", c.versionCmd), one("info", c.infoCmd), one("events", c.eventsCmd),
		one("run", c.runCmd), one("create", c.createCmd), one("start", c.startCmd), one("ps", c.psCmd),
		one("stop", stop("stop", "/stop", "Stop one or more running containers")),
		one("restart", stop("restart", "/restart", "Restart one or more containers")),
		one("kill", c.killCmd), one("rm", c.rmCmd), one("logs", c.logsCmd), one("wait", c.waitCmd),
		one("rename", c.renameCmd), one("exec", c.execCmd),
		one("pause", simple("pause CONTAINER [CONTAINER...]", "Pause all processes within one or more containers", "/pause")),
		one("unpause", simple("unpause CONTAINER [CONTAINER...]", "Unpause all processes within one or more containers", "/unpause")),
		one("stats", c.statsCmd), one("top", c.topCmd), one("update", c.updateCmd), one("port", c.portCmd),
		one("attach", c.attachCmd), one("cp", c.cpCmd), one("export", c.exportCmd), one("diff", c.diffCmd),
		one("image", func() *cobra.Command {
			image := &cobra.Command{Use: "image", Short: "Manage images"}
			image.AddCommand(
				withName(c.pullCmd(), "pull"), withName(c.pushCmd(), "push"), withName(c.imagesCmd(), "ls"),
				withName(c.imageInspectCmd(), "inspect"), withName(c.rmiCmd(), "rm"), withName(c.tagCmd(), "tag"),
				withName(c.saveCmd(), "save"), withName(c.loadCmd(), "load"), c.imagePruneCmd(), withName(c.historyCmd(), "history"),
			)
			return image
		}),
		one("container", func() *cobra.Command {
			ctrs := &cobra.Command{Use: "container", Short: "Manage containers"}
			ctrs.AddCommand(
				withName(c.psCmd(), "ls"), c.runCmd(), c.createCmd(), c.startCmd(),
				c.stopCmd("stop", "/stop", "Stop one or more running containers"),
				c.stopCmd("restart", "/restart", "Restart one or more containers"),
				c.killCmd(), c.rmCmd(), c.logsCmd(), c.waitCmd(), c.renameCmd(),
				c.simpleCmd("pause CONTAINER [CONTAINER...]", "Pause all processes within one or more containers", "/pause", nil, nil),
				c.simpleCmd("unpause CONTAINER [CONTAINER...]", "Unpause all processes within one or more containers", "/unpause", nil, nil),
				c.containerInspectCmd(), c.containerPruneCmd(), c.execCmd(), c.statsCmd(),
				c.topCmd(), c.updateCmd(), c.portCmd(), c.attachCmd(), c.cpCmd(), c.exportCmd(), c.diffCmd(),
			)
			return ctrs
		}),
		one("system", func() *cobra.Command {
			system := &cobra.Command{Use: "system", Short: "Manage Berth"}
			system.AddCommand(c.dfCmd(), withName(c.infoCmd(), "info"), withName(c.eventsCmd(), "events"))
			return system
		}),
		one("volume", c.volumeCmd), one("network", c.networkCmd),
	}
}

// firstArg returns the first argument that is not a global flag (or a
// global flag's value): the command's name, or "".
func firstArg(args []string) string {
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-H" || a == "--host" || a == "--config":
			i++
		case strings.HasPrefix(a, "-"):
			if a == "--" {
				return ""
			}
		default:
			return a
		}
	}
	return ""
}

// withName renames a command for its "image X" alias.
func withName(cmd *cobra.Command, name string) *cobra.Command {
	cmd.Use = name + cmd.Use[len(cmd.Name()):]
	cmd.Aliases = nil
	return cmd
}

type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func defaultHost() string {
	if h := os.Getenv("BERTH_HOST"); h != "" {
		return h
	}
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		return h
	}
	return "unix:///run/berth/berth.sock"
}

func defaultConfigDir() string {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return home + "/.docker"
}
