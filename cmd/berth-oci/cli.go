package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// command is one verb. The runtime's command line is small and fixed by
// runc's, so it is parsed with the standard flag package: every
// invocation of a short-lived runtime pays the package initialisation of
// a larger CLI library (text/template, regexp, net), measured on the
// container start path.
type command struct {
	name    string
	args    string // positional arguments, for usage
	summary string
	flags   *flag.FlagSet
	// nargs bounds the positional arguments: min, max (-1: no limit).
	min, max int
	run      func(args []string) error
}

func newCommand(name, args, summary string, min, max int) *command {
	c := &command{name: name, args: args, summary: summary, min: min, max: max,
		flags: flag.NewFlagSet(name, flag.ContinueOnError)}
	c.flags.Usage = func() { c.usage(os.Stderr) }
	return c
}

func (c *command) usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: berth-oci %s [flags] %s\n\n%s\n\nFlags:\n", c.name, c.args, c.summary)
	c.flags.SetOutput(w)
	c.flags.PrintDefaults()
}

// parse reads flags up to the first positional argument, as runc does.
func (c *command) parse(argv []string) ([]string, error) {
	c.flags.SetOutput(io.Discard)
	if err := c.flags.Parse(argv); err != nil {
		if err == flag.ErrHelp {
			c.usage(os.Stdout)
			return nil, errHelp
		}
		return nil, fmt.Errorf("%s: %w", c.name, err)
	}
	args := c.flags.Args()
	if len(args) < c.min || (c.max >= 0 && len(args) > c.max) {
		return nil, fmt.Errorf("%s: wrong number of arguments (usage: berth-oci %s [flags] %s)", c.name, c.name, c.args)
	}
	return args, nil
}

var errHelp = fmt.Errorf("help shown")

// Flag helpers that register a long name and its one-letter alias.

func stringFlag(fs *flag.FlagSet, p *string, long, short, def, usage string) {
	fs.StringVar(p, long, def, usage)
	if short != "" {
		fs.StringVar(p, short, def, "same as --"+long)
	}
}

func boolFlag(fs *flag.FlagSet, p *bool, long, short string, usage string) {
	fs.BoolVar(p, long, false, usage)
	if short != "" {
		fs.BoolVar(p, short, false, "same as --"+long)
	}
}

// listFlag collects a repeatable string flag (--env A=1 --env B=2).
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// intsFlag collects integers, repeated or comma-separated.
type intsFlag []int

func (l *intsFlag) String() string { return fmt.Sprint([]int(*l)) }
func (l *intsFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not a number", s)
		}
		*l = append(*l, n)
	}
	return nil
}

// setFlags lists the flags given on the command line.
func setFlags(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}
