// Each invocation lives for milliseconds: skip the cgroup-aware GOMAXPROCS
// probing (several file reads at start-up).

//go:debug containermaxprocs=0
//go:debug updatemaxprocs=0

// Command berth-oci is Berth's low-level OCI runtime, with runc's command
// line so that containerd, CRI-O, podman and dockerd can use it in runc's place.
package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/oci"

	// Joins user and mount namespaces before the Go runtime starts (exec, shared namespaces).
	_ "github.com/berth-dev/berth/internal/linux/nsenter"
)

// version is set by the Makefile.
var version = "dev"

func init() {
	// The re-executed init must do all its work on the main thread: capsets,
	// unshare and execve act on the calling thread.
	if len(os.Args) > 1 && os.Args[1] == "init" {
		runtime.GOMAXPROCS(1)
		runtime.LockOSThread()
	}
}

type globals struct {
	root      string
	log       string
	logFormat string
	debug     bool
	systemd   bool
	logFile   *os.File
}

func (g *globals) store() oci.Store { return oci.Store{Root: g.root} }

func main() {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		os.Exit(oci.Init())
	}
	// Short-lived: the heap never grows enough for a collection to pay off.
	debug.SetGCPercent(-1)
	g := &globals{}
	root := &cobra.Command{
		Use:           "berth-oci",
		Short:         "Berth's OCI runtime (runc-compatible command line)",
		Version:       version + "\nspec: 1.3.0",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return g.setupLog()
		},
	}
	root.SetVersionTemplate("berth-oci version {{.Version}}\n")
	f := root.PersistentFlags()
	f.StringVar(&g.root, "root", "/run/berth-oci", "root directory for container state")
	f.StringVar(&g.log, "log", "", "log file (default stderr)")
	f.StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	f.BoolVar(&g.debug, "debug", false, "debug logging")
	f.BoolVar(&g.systemd, "systemd-cgroup", false, "take cgroupsPath in systemd's slice:prefix:name form")
	// Accepted for runc compatibility; no effect.
	f.String("criu", "", "")
	f.String("rootless", "auto", "")
	for _, n := range []string{"criu", "rootless"} {
		f.MarkHidden(n)
	}
	root.AddCommand(
		createCmd(g), startCmd(g), runCmd(g), stateCmd(g), killCmd(g), deleteCmd(g),
		execCmd(g), psCmd(g), listCmd(g), pauseCmd(g), resumeCmd(g), updateCmd(g),
		eventsCmd(g), featuresCmd(g), specCmd(g),
	)
	err := root.Execute()
	if err == nil {
		return
	}
	var ex exitError
	if errors.As(err, &ex) {
		os.Exit(int(ex))
	}
	if g.logFile != nil {
		// Callers that read the log (containerd's shim) find the error there.
		slog.Error(err.Error())
	}
	fmt.Fprintln(os.Stderr, "berth-oci:", err)
	os.Exit(1)
}

// exitError carries a container's exit status out of run/exec.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// setupLog sends slog to --log (or stderr) in the format callers parse:
// runc writes {"level":"error","msg":...} lines and shims read them.
func (g *globals) setupLog() error {
	var w io.Writer = os.Stderr
	if g.log != "" {
		f, err := os.OpenFile(g.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_SYNC, 0o644)
		if err != nil {
			return fmt.Errorf("--log %s: %w", g.log, err)
		}
		g.logFile, w = f, f
	}
	level := slog.LevelWarn
	if g.debug {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.LevelKey {
			a.Value = slog.StringValue(strings.ToLower(a.Value.String()))
		}
		return a
	}}
	var h slog.Handler
	switch g.logFormat {
	case "json":
		h = slog.NewJSONHandler(w, opts)
	case "text", "":
		h = slog.NewTextHandler(w, opts)
	default:
		return fmt.Errorf("--log-format: unknown format %q (want text or json)", g.logFormat)
	}
	slog.SetDefault(slog.New(h))
	return nil
}

// needID checks the one positional argument most verbs take.
func needID(args []string) error {
	if len(args) < 1 {
		return errors.New("container id is required")
	}
	return nil
}
