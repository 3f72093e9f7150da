// Command berth is Berth's docker-compatible CLI. It talks to berthd over
// the Docker Engine API, so its commands, flags and output follow docker's.
package main

import (
	"errors"
	"fmt"
	"os"

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

	image := &cobra.Command{Use: "image", Short: "Manage images"}
	image.AddCommand(
		withName(c.pullCmd(), "pull"), withName(c.pushCmd(), "push"), withName(c.imagesCmd(), "ls"),
		withName(c.imageInspectCmd(), "inspect"), withName(c.rmiCmd(), "rm"), withName(c.tagCmd(), "tag"),
		withName(c.saveCmd(), "save"), withName(c.loadCmd(), "load"), c.imagePruneCmd(), withName(c.historyCmd(), "history"),
	)
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
	system := &cobra.Command{Use: "system", Short: "Manage Berth"}
	system.AddCommand(c.dfCmd(), withName(c.infoCmd(), "info"), withName(c.eventsCmd(), "events"))
	root.AddCommand(
		c.pullCmd(), c.pushCmd(), c.imagesCmd(), c.rmiCmd(), c.tagCmd(), c.saveCmd(), c.loadCmd(),
		c.historyCmd(), c.inspectCmd(), c.loginCmd(), c.logoutCmd(), c.versionCmd(), c.infoCmd(), c.eventsCmd(),
		c.runCmd(), c.createCmd(), c.startCmd(), c.psCmd(),
		c.stopCmd("stop", "/stop", "Stop one or more running containers"),
		c.stopCmd("restart", "/restart", "Restart one or more containers"),
		c.killCmd(), c.rmCmd(), c.logsCmd(), c.waitCmd(), c.renameCmd(), c.execCmd(),
		c.simpleCmd("pause CONTAINER [CONTAINER...]", "Pause all processes within one or more containers", "/pause", nil, nil),
		c.simpleCmd("unpause CONTAINER [CONTAINER...]", "Unpause all processes within one or more containers", "/unpause", nil, nil),
		c.statsCmd(), c.topCmd(), c.updateCmd(), c.portCmd(), c.attachCmd(), c.cpCmd(), c.exportCmd(), c.diffCmd(), c.diffCmd(), image, ctrs, system, c.volumeCmd(), c.networkCmd(),
	)
	if err := root.Execute(); err != nil {
		var ex exitError
		if errors.As(err, &ex) {
			os.Exit(ex.code)
		}
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
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
