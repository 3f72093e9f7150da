package main

import (
	"net/url"

	"github.com/spf13/cobra"
)

func (c *cli) tagCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
		Short: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := parseImageRefLatest(args[1])
			if err != nil {
				return err
			}
			q := url.Values{"repo": {ref.Repository()}, "tag": {ref.Tag}}
			return c.api.postJSON(cmd.Context(), "/images/"+escapeName(args[0])+"/tag", q, nil, nil)
		},
	}
}
