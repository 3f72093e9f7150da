package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

type historyRow struct {
	ID           string
	CreatedSince string
	CreatedAt    string
	CreatedBy    string
	Size         string
	Comment      string
}

func (c *cli) historyCmd() *cobra.Command {
	var format string
	var noTrunc, quiet bool
	cmd := &cobra.Command{
		Use:   "history [OPTIONS] IMAGE",
		Short: "Show the history of an image",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var items []struct {
				ID        string `json:"Id"`
				Created   int64
				CreatedBy string
				Size      int64
				Comment   string
			}
			if err := c.api.getJSON(cmd.Context(), "/images/"+escapeName(args[0])+"/history", nil, &items); err != nil {
				return err
			}
			var rows []historyRow
			for _, it := range items {
				id := it.ID
				if !noTrunc && id != "<missing>" {
					id = shortID(id)
				}
				by := it.CreatedBy
				if !noTrunc && len(by) > 45 {
					by = by[:44] + "…"
				}
				rows = append(rows, historyRow{ID: id, CreatedSince: since(time.Unix(it.Created, 0)),
					CreatedAt: time.Unix(it.Created, 0).Format(time.RFC3339), CreatedBy: by, Size: humanSize(it.Size), Comment: it.Comment})
			}
			if quiet {
				for _, r := range rows {
					fmt.Fprintln(cmd.OutOrStdout(), r.ID)
				}
				return nil
			}
			return writeList(cmd.OutOrStdout(), format, "{{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}", rows)
		},
	}
	cmd.Flags().StringVar(&format, "format", "", "format output: table, json, or a Go template")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "don't truncate output")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only show image IDs")
	return cmd
}
