package main

import (
	"errors"
	"io"
	"net/url"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func (c *cli) saveCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "save [OPTIONS] IMAGE [IMAGE...]",
		Short: "Save one or more images to a tar archive (streamed to STDOUT by default)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output == "" && term.IsTerminal(int(os.Stdout.Fd())) {
				return errors.New("cowardly refusing to save to a terminal. Use the -o flag or redirect")
			}
			resp, err := c.api.do(cmd.Context(), "GET", "/images/get", url.Values{"names": args}, nil, nil)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			var w io.Writer = os.Stdout
			if output != "" {
				tmp := output + ".berth-tmp"
				f, err := os.Create(tmp)
				if err != nil {
					return err
				}
				defer os.Remove(tmp)
				if _, err := io.Copy(f, resp.Body); err != nil {
					f.Close()
					return errors.New("save: the archive was cut short: " + err.Error())
				}
				if err := f.Close(); err != nil {
					return err
				}
				return os.Rename(tmp, output)
			}
			_, err = io.Copy(w, resp.Body)
			return err
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to a file, instead of STDOUT")
	return cmd
}
