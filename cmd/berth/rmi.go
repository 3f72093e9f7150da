package main

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/spf13/cobra"
)

func (c *cli) rmiCmd() *cobra.Command {
	var force, noPrune bool
	cmd := &cobra.Command{
		Use:   "rmi [OPTIONS] IMAGE [IMAGE...]",
		Short: "Remove one or more images",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{}
			if force {
				q.Set("force", "1")
			}
			if noPrune {
				q.Set("noprune", "1")
			}
			var errs []error
			for _, name := range args {
				resp, err := c.api.do(cmd.Context(), "DELETE", "/images/"+escapeName(name), q, nil, nil)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				var out []struct{ Untagged, Deleted string }
				decodeAndClose(resp, &out)
				for _, o := range out {
					if o.Untagged != "" {
						fmt.Fprintln(cmd.OutOrStdout(), "Untagged:", o.Untagged)
					}
					if o.Deleted != "" {
						fmt.Fprintln(cmd.OutOrStdout(), "Deleted:", o.Deleted)
					}
				}
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "force removal of the image")
	cmd.Flags().BoolVar(&noPrune, "no-prune", false, "do not delete untagged parents")
	return cmd
}
