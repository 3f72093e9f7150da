package main

import (
	"encoding/json"
	"fmt"
	"net/url"

	"github.com/spf13/cobra"
)

func (c *cli) imagePruneCmd() *cobra.Command {
	var all, force bool
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused images",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{}
			if all {
				b, _ := json.Marshal(map[string]map[string]bool{"dangling": {"false": true}})
				q.Set("filters", string(b))
			}
			_ = force // no prompt: berth never asks interactively
			var rep struct {
				ImagesDeleted  []struct{ Untagged, Deleted string }
				SpaceReclaimed uint64
			}
			if err := c.api.postJSON(cmd.Context(), "/images/prune", q, nil, &rep); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if len(rep.ImagesDeleted) > 0 {
				fmt.Fprintln(out, "Deleted Images:")
				for _, d := range rep.ImagesDeleted {
					if d.Untagged != "" {
						fmt.Fprintln(out, "untagged:", d.Untagged)
					}
					if d.Deleted != "" {
						fmt.Fprintln(out, "deleted:", d.Deleted)
					}
				}
				fmt.Fprintln(out)
			}
			fmt.Fprintf(out, "Total reclaimed space: %s\n", humanSize(int64(rep.SpaceReclaimed)))
			return nil
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "remove all unused images, not just dangling ones")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "do not prompt for confirmation")
	return cmd
}
