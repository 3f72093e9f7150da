package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// apiImage is the part of GET /images/json the CLI shows.
type apiImage struct {
	ID          string `json:"Id"`
	RepoTags    []string
	RepoDigests []string
	Created     int64
	Size        int64
	Labels      map[string]string
}

// imageRow is one line of `berth images`; its fields are what --format
// templates can use, as in docker.
type imageRow struct {
	Repository   string
	Tag          string
	ID           string
	Digest       string
	CreatedSince string
	CreatedAt    string
	Size         string
	Containers   string
}

func (c *cli) imagesCmd() *cobra.Command {
	var all, quiet, digests, noTrunc bool
	var format string
	var filter []string
	cmd := &cobra.Command{
		Use:   "images [OPTIONS] [REPOSITORY[:TAG]]",
		Short: "List images",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{}
			f := map[string]map[string]bool{}
			for _, kv := range filter {
				k, v, _ := strings.Cut(kv, "=")
				if f[k] == nil {
					f[k] = map[string]bool{}
				}
				f[k][v] = true
			}
			if len(args) == 1 {
				f["reference"] = map[string]bool{args[0]: true}
			}
			if len(f) > 0 {
				b, _ := json.Marshal(f)
				q.Set("filters", string(b))
			}
			if all {
				q.Set("all", "1")
			}
			var list []apiImage
			if err := c.api.getJSON(cmd.Context(), "/images/json", q, &list); err != nil {
				return err
			}
			var rows []imageRow
			for _, img := range list {
				id := img.ID
				if !noTrunc {
					id = shortID(id)
				}
				base := imageRow{ID: id, Size: humanSize(img.Size), Containers: "N/A",
					CreatedSince: since(time.Unix(img.Created, 0)), CreatedAt: time.Unix(img.Created, 0).Format("2006-01-02 15:04:05 -0700 MST")}
				digest := "<none>"
				if len(img.RepoDigests) > 0 {
					_, digest, _ = strings.Cut(img.RepoDigests[0], "@")
				}
				tags := img.RepoTags
				if len(tags) == 0 {
					tags = []string{"<none>:<none>"}
				}
				for _, t := range tags {
					r := base
					i := strings.LastIndex(t, ":")
					r.Repository, r.Tag, r.Digest = t[:i], t[i+1:], digest
					rows = append(rows, r)
				}
			}
			if quiet {
				seen := map[string]bool{}
				for _, r := range rows {
					if !seen[r.ID] {
						seen[r.ID] = true
						fmt.Fprintln(cmd.OutOrStdout(), r.ID)
					}
				}
				return nil
			}
			table := "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
			if digests {
				table = "{{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
			}
			return writeList(cmd.OutOrStdout(), format, table, rows)
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "show all images")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only show image IDs")
	cmd.Flags().BoolVar(&digests, "digests", false, "show digests")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "don't truncate output")
	cmd.Flags().StringVar(&format, "format", "", "format output: table, json, or a Go template")
	cmd.Flags().StringArrayVarP(&filter, "filter", "f", nil, "filter output (dangling=true, reference=...)")
	return cmd
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
