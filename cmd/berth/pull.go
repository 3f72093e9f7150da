package main

import (
	"fmt"
	"net/url"
	"os"

	"github.com/spf13/cobra"
)

func (c *cli) pullCmd() *cobra.Command {
	var platform string
	var quiet, all bool
	cmd := &cobra.Command{
		Use:   "pull [OPTIONS] NAME[:TAG|@DIGEST]",
		Short: "Download an image from a registry",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := parseImageRef(args[0])
			if err != nil {
				return err
			}
			if ref.Tag == "" && ref.Digest == "" && !all {
				ref.Tag = "latest"
				if !quiet {
					fmt.Fprintln(cmd.OutOrStdout(), "Using default tag: latest")
				}
			}
			q := url.Values{"fromImage": {ref.Repository()}}
			if ref.Digest != "" {
				q.Set("tag", ref.Digest)
			} else if ref.Tag != "" {
				q.Set("tag", ref.Tag)
			}
			if platform != "" {
				q.Set("platform", platform)
			}
			return c.streamPost(cmd, "/images/create", q, ref.Domain, quiet)
		},
	}
	cmd.Flags().StringVar(&platform, "platform", "", "set platform if server is multi-platform capable")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "suppress verbose output")
	cmd.Flags().BoolVarP(&all, "all-tags", "a", false, "download all tagged images in the repository (not supported)")
	return cmd
}

// streamPost posts to a progress-streaming endpoint with the stored
// credentials for host, and renders the stream.
func (c *cli) streamPost(cmd *cobra.Command, path string, q url.Values, host string, quiet bool) error {
	hdr := header{}
	if cfg, err := loadDockerConfig(c.config); err == nil {
		if a := cfg.registryAuthHeader(host); a != "" {
			hdr.Set("X-Registry-Auth", a)
		}
	}
	resp, err := c.api.do(cmd.Context(), "POST", path, q, nil, hdr)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := renderStream(resp.Body, os.Stdout, quiet); err != nil {
		return err
	}
	if quiet && path == "/images/create" {
		name := q.Get("fromImage")
		if t := q.Get("tag"); t != "" {
			if len(t) > 7 && t[:7] == "sha256:" {
				name += "@" + t
			} else {
				name += ":" + t
			}
		}
		if r, err := parseImageRefLatest(name); err == nil {
			fmt.Fprintln(cmd.OutOrStdout(), r.String())
		}
	}
	return nil
}
