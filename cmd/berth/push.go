package main

import (
	"fmt"
	"net/url"

	"github.com/spf13/cobra"
)

func (c *cli) pushCmd() *cobra.Command {
	var all, quiet bool
	cmd := &cobra.Command{
		Use:   "push [OPTIONS] NAME[:TAG]",
		Short: "Upload an image to a registry",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := parseImageRef(args[0])
			if err != nil {
				return err
			}
			if ref.Tag == "" && !all {
				ref.Tag = "latest"
				if !quiet {
					fmt.Fprintln(cmd.OutOrStdout(), "Using default tag: latest")
				}
			}
			q := url.Values{}
			if ref.Tag != "" {
				q.Set("tag", ref.Tag)
			}
			return c.streamPost(cmd, "/images/"+escapeName(ref.Repository())+"/push", q, ref.Domain, quiet)
		},
	}
	cmd.Flags().BoolVarP(&all, "all-tags", "a", false, "push all tags of the repository")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "suppress verbose output")
	return cmd
}
