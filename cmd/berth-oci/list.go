package main

import (
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/berth-dev/berth/internal/oci"
)

func listCmd(g *globals) *command {
	var format string
	var quiet bool
	c := newCommand("list", "", "list containers", 0, 0)
	stringFlag(c.flags, &format, "format", "f", "table", "table or json")
	boolFlag(c.flags, &quiet, "quiet", "q", "print only ids")
	c.run = func(args []string) error {
		s := g.store()
		ids, err := s.List()
		if err != nil {
			return err
		}
		states := make([]*oci.State, 0, len(ids))
		for _, id := range ids {
			h, err := s.Open(id)
			if err != nil {
				continue // deleted meanwhile
			}
			states = append(states, h.State())
		}
		switch {
		case quiet:
			for _, st := range states {
				fmt.Println(st.ID)
			}
		case format == "json":
			return json.NewEncoder(os.Stdout).Encode(states)
		case format == "table" || format == "":
			w := tabwriter.NewWriter(os.Stdout, 12, 1, 3, ' ', 0)
			fmt.Fprintln(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER")
			for _, st := range states {
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", st.ID, st.Pid, st.Status, st.Bundle,
					st.Created.Format(time.RFC3339Nano), st.Owner)
			}
			return w.Flush()
		default:
			return fmt.Errorf("--format: unknown format %q (want table or json)", format)
		}
		return nil
	}
	return c
}
