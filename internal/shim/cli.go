package shim

import (
	"flag"
	"fmt"
	"log/slog"
	"os"

	"golang.org/x/sys/unix"
)

// Main is berth-shim's command line; it returns the exit status.
func Main(args []string, version string) int {
	var o Options
	var shimLog string
	var readyFD int
	var dbg, showVersion bool
	fs := flag.NewFlagSet("berth-shim", flag.ContinueOnError)
	fs.StringVar(&o.ID, "id", "", "container id")
	fs.StringVar(&o.Bundle, "bundle", "", "OCI bundle directory")
	fs.StringVar(&o.Runtime, "runtime", "berth-oci", "runc-compatible runtime")
	fs.StringVar(&o.RuntimeRoot, "runtime-root", "/run/berth-oci", "the runtime's --root")
	fs.StringVar(&o.StateDir, "state-dir", "", "directory for shim.sock, init.pid, exit.json")
	fs.StringVar(&o.LogPath, "log-path", "", "container log file (none if empty)")
	fs.StringVar(&o.LogFormat, "log-format", "json-file", "container log format: json-file or cri")
	fs.Int64Var(&o.LogMaxSize, "log-max-size", 0, "rotate the json-file log at this many bytes (0: never)")
	fs.IntVar(&o.LogMaxFiles, "log-max-file", 1, "json-file logs to keep, the live one included")
	fs.BoolVar(&o.TTY, "tty", false, "give the container a terminal")
	fs.BoolVar(&o.Stdin, "stdin", false, "keep the container's stdin open for attach")
	fs.DurationVar(&o.RebirthAfter, "rebirth-after", 0, "hand over to a fresh image this long after the start (0: 200ms, negative: never)")
	fs.BoolVar(&o.Spare, "spare", false, "a spare: wait for the container's options (the assign op)")
	fs.BoolVar(&o.RunOnStart, "run-on-start", false, "create and start the container at the start op (runtime run --detach), not at launch")
	fs.StringVar(&shimLog, "shim-log", "", "file for the shim's own log")
	fs.BoolVar(&dbg, "debug", false, "debug logging")
	fs.IntVar(&readyFD, "ready-fd", -1, "descriptor to write one byte to and close once serving")
	fs.BoolVar(&showVersion, "version", false, "print the version")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		fmt.Fprintln(os.Stderr, "berth-shim:", err)
		return 2
	}
	if showVersion {
		fmt.Println("berth-shim version", version)
		return 0
	}
	// A shim handed over to this image (rebirth.go) takes its options
	// from the hand-over, not from the command line it was launched
	// with: a spare's had no container in it.
	st, err := readResumeState()
	if err != nil {
		fmt.Fprintln(os.Stderr, "berth-shim:", err)
		return 1
	}
	if st != nil {
		o = st.Options
		o.logFile, o.debug = nil, st.Debug
		if st.LogFD >= 0 {
			unix.CloseOnExec(st.LogFD)
			o.logFile = os.NewFile(uintptr(st.LogFD), "shim-log")
		}
		o.Logger = newLogger(o.logFile, o.debug)
		if err := resume(o, st); err != nil {
			o.Logger.Error("shim failed", "id", o.ID, "err", err)
			return 1
		}
		return 0
	}
	if shimLog != "" {
		f, err := os.OpenFile(shimLog, os.O_WRONLY|os.O_CREATE|os.O_APPEND|unix.O_CLOEXEC, 0o600)
		if err != nil {
			fmt.Fprintln(os.Stderr, "berth-shim:", err)
			return 1
		}
		o.logFile = f
	}
	o.debug = dbg
	logger := newLogger(o.logFile, dbg)
	if readyFD >= 0 {
		// Not inherited by the runtime, or its end would stay open.
		unix.CloseOnExec(readyFD)
		o.Ready = os.NewFile(uintptr(readyFD), "ready")
	}
	o.Logger = logger
	if err := Run(o); err != nil {
		logger.Error("shim failed", "id", o.ID, "err", err)
		return 1
	}
	return 0
}

// newLogger logs to f (nowhere if nil).
func newLogger(f *os.File, debug bool) *slog.Logger {
	if f == nil {
		return slog.New(slog.DiscardHandler)
	}
	level := slog.LevelInfo
	if debug {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: level}))
}
