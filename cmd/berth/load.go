package main

import (
	"errors"
	"io"
	"net/url"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func (c *cli) loadCmd() *cobra.Command {
	var input string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "load [OPTIONS]",
		Short: "Load an image from a tar archive or STDIN",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var in io.Reader = os.Stdin
			if input != "" {
				f, err := os.Open(input)
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			} else if term.IsTerminal(int(os.Stdin.Fd())) {
				return errors.New("requested load from stdin, but stdin is empty")
			}
			q := url.Values{}
			if quiet {
				q.Set("quiet", "1")
			}
			resp, err := c.api.do(cmd.Context(), "POST", "/images/load", q, in, header{"Content-Type": {"application/x-tar"}})
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			return renderStream(resp.Body, os.Stdout, false)
		},
	}
	cmd.Flags().StringVarP(&input, "input", "i", "", "read from tar archive file, instead of STDIN")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "suppress the load output")
	return cmd
}
