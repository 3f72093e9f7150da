package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

func psCmd(g *globals) *command {
	var format string
	c := newCommand("ps", "<container-id> [ps options]", "list the processes of a container", 1, -1)
	stringFlag(c.flags, &format, "format", "f", "table", "table or json")
	c.run = func(args []string) error {
		h, err := g.store().Open(args[0])
		if err != nil {
			return err
		}
		cg, err := h.Cgroup()
		if err != nil {
			return err
		}
		pids, err := cg.Pids()
		if err != nil {
			return err
		}
		if format == "json" {
			if pids == nil {
				pids = []int{}
			}
			return json.NewEncoder(os.Stdout).Encode(pids)
		}
		if format != "table" {
			return fmt.Errorf("--format: unknown format %q (want table or json)", format)
		}
		psArgs := args[1:]
		if len(psArgs) == 0 {
			psArgs = []string{"-ef"}
		}
		out, err := exec.Command("ps", psArgs...).Output()
		if err != nil {
			return fmt.Errorf("ps %s: %w", strings.Join(psArgs, " "), err)
		}
		return filterPS(string(out), pids)
	}
	return c
}

// filterPS keeps the header and the lines whose PID column is in pids.
func filterPS(out string, pids []int) error {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	col := -1
	for i, h := range strings.Fields(lines[0]) {
		if h == "PID" {
			col = i
		}
	}
	if col < 0 {
		return fmt.Errorf("ps output has no PID column")
	}
	want := map[string]bool{}
	for _, p := range pids {
		want[strconv.Itoa(p)] = true
	}
	fmt.Println(lines[0])
	for _, l := range lines[1:] {
		if f := strings.Fields(l); len(f) > col && want[f[col]] {
			fmt.Println(l)
		}
	}
	return nil
}
