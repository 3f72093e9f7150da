// Each invocation lives for milliseconds: skip the cgroup-aware GOMAXPROCS
// probing (several file reads at start-up).

//go:debug containermaxprocs=0
//go:debug updatemaxprocs=0

// Command berth-oci is Berth's low-level OCI runtime, with runc's command
// line so that containerd, CRI-O, podman and dockerd can use it in runc's place.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/oci"

	// Joins user and mount namespaces before the Go runtime starts (exec, shared namespaces).
	_ "github.com/berth-dev/berth/internal/linux/nsenter"
)

// version is set by the Makefile.
var version = "dev"

func init() {
	// The re-executed init must do all its work on the main thread: capsets,
	// unshare and execve act on the calling thread.
	// (GOMAXPROCS=1 comes from the environment the parent gives it:
	// calling runtime.GOMAXPROCS here would stop the world.)
	if len(os.Args) > 1 && os.Args[1] == "init" {
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
	// The runtime waits on its init and container with raw system calls,
	// which keep their P; a second P keeps the other goroutines (signal
	// forwarding, cgroup set-up) running on a one-CPU host.
	if runtime.GOMAXPROCS(0) < 2 {
		runtime.GOMAXPROCS(2)
	}
	err := runMain(os.Args[1:])
	if err == nil || err == errHelp {
		return
	}
	var ex exitError
	if errors.As(err, &ex) {
		os.Exit(int(ex))
	}
	if logFile != nil {
		// Callers that read the log (containerd's shim) find the error there.
		slog.Error(err.Error())
	}
	fmt.Fprintln(os.Stderr, "berth-oci:", err)
	os.Exit(1)
}

var logFile *os.File

func runMain(argv []string) error {
	g := &globals{}
	fs := flag.NewFlagSet("berth-oci", flag.ContinueOnError)
	fs.StringVar(&g.root, "root", "/run/berth-oci", "root directory for container state")
	fs.StringVar(&g.log, "log", "", "log file (default stderr)")
	fs.StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	fs.BoolVar(&g.debug, "debug", false, "debug logging")
	fs.BoolVar(&g.systemd, "systemd-cgroup", false, "take cgroupsPath in systemd's slice:prefix:name form")
	var showVersion bool
	fs.BoolVar(&showVersion, "version", false, "print the version")
	fs.BoolVar(&showVersion, "v", false, "same as --version")
	// Accepted for runc compatibility; no effect.
	fs.String("criu", "", "accepted for runc compatibility")
	fs.String("rootless", "auto", "accepted for runc compatibility")
	cmds := []*command{
		createCmd(g), startCmd(g), runCmd(g), stateCmd(g), killCmd(g), deleteCmd(g),
		execCmd(g), psCmd(g), listCmd(g), pauseCmd(g), resumeCmd(g), updateCmd(g),
		eventsCmd(g), featuresCmd(g), specCmd(g),
	}
	fs.Usage = func() { topUsage(fs, cmds) }
	fs.SetOutput(io.Discard)
	if err := fs.Parse(argv); err != nil {
		if err == flag.ErrHelp {
			topUsage(fs, cmds)
			return errHelp
		}
		return err
	}
	if showVersion {
		fmt.Printf("berth-oci version %s\nspec: %s\n", version, specs.Version)
		return nil
	}
	rest := fs.Args()
	if len(rest) == 0 || rest[0] == "help" {
		topUsage(fs, cmds)
		return nil
	}
	for _, c := range cmds {
		if c.name == rest[0] || (c.name == "delete" && rest[0] == "rm") || (c.name == "list" && rest[0] == "ls") {
			args, err := c.parse(rest[1:])
			if err != nil {
				return err
			}
			if err := g.setupLog(); err != nil {
				return err
			}
			logFile = g.logFile
			return c.run(args)
		}
	}
	return fmt.Errorf("unknown command %q (see berth-oci --help)", rest[0])
}

func topUsage(fs *flag.FlagSet, cmds []*command) {
	w := os.Stdout
	fmt.Fprintf(w, "berth-oci: Berth's OCI runtime (runc-compatible command line)\n\nUsage: berth-oci [global flags] <command> [flags] [args]\n\nCommands:\n")
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nGlobal flags:\n")
	fs.SetOutput(w)
	fs.PrintDefaults()
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
