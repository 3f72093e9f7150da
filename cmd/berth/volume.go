package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/spf13/cobra"
)

type apiVolume struct {
	Name, Driver, Mountpoint, CreatedAt, Scope string
	Labels                                     map[string]string
}

type volumeRow struct{ Driver, Name, Mountpoint, Scope, Labels string }

func (c *cli) volumeCmd() *cobra.Command {
	v := &cobra.Command{Use: "volume", Short: "Manage volumes"}
	var driver string
	var labels, opts []string
	create := &cobra.Command{
		Use:   "create [OPTIONS] [VOLUME]",
		Short: "Create a volume",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := map[string]any{"Driver": driver, "Labels": kvMap(labels), "DriverOpts": kvMap(opts)}
			if len(args) == 1 {
				req["Name"] = args[0]
			}
			var out apiVolume
			if err := c.api.postJSON(cmd.Context(), "/volumes/create", nil, req, &out); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), out.Name)
			return nil
		},
	}
	create.Flags().StringVarP(&driver, "driver", "d", "local", "specify volume driver name")
	create.Flags().StringArrayVar(&labels, "label", nil, "set metadata for a volume")
	create.Flags().StringArrayVarP(&opts, "opt", "o", nil, "set driver specific options")
	var quiet bool
	var format string
	var filter []string
	ls := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List volumes",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{}
			if f := filterJSON(filter); f != "" {
				q.Set("filters", f)
			}
			var resp struct{ Volumes []apiVolume }
			if err := c.api.getJSON(cmd.Context(), "/volumes", q, &resp); err != nil {
				return err
			}
			var rows []volumeRow
			for _, vv := range resp.Volumes {
				if quiet {
					fmt.Fprintln(cmd.OutOrStdout(), vv.Name)
					continue
				}
				var l []string
				for k, val := range vv.Labels {
					l = append(l, k+"="+val)
				}
				rows = append(rows, volumeRow{Driver: vv.Driver, Name: vv.Name, Mountpoint: vv.Mountpoint, Scope: vv.Scope, Labels: strings.Join(l, ",")})
			}
			if quiet {
				return nil
			}
			return writeList(cmd.OutOrStdout(), format, "{{.Driver}}\t{{.Name}}", rows, map[string]string{"Name": "VOLUME NAME"})
		},
	}
	ls.Flags().BoolVarP(&quiet, "quiet", "q", false, "only display volume names")
	ls.Flags().StringVar(&format, "format", "", "format output: table, json, or a Go template")
	ls.Flags().StringArrayVarP(&filter, "filter", "f", nil, "provide filter values (e.g. dangling=true)")
	var iformat string
	inspect := &cobra.Command{
		Use:   "inspect [OPTIONS] VOLUME [VOLUME...]",
		Short: "Display detailed information on one or more volumes",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.inspect(cmd, args, iformat, "/volumes/%s")
		},
	}
	inspect.Flags().StringVarP(&iformat, "format", "f", "", "format output using a Go template or json")
	var force bool
	rm := &cobra.Command{
		Use:     "rm [OPTIONS] VOLUME [VOLUME...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more volumes",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{}
			if force {
				q.Set("force", "1")
			}
			var errs []error
			for _, n := range args {
				resp, err := c.api.do(cmd.Context(), "DELETE", "/volumes/"+url.PathEscape(n), q, nil, nil)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				resp.Body.Close()
				fmt.Fprintln(cmd.OutOrStdout(), n)
			}
			return errors.Join(errs...)
		},
	}
	rm.Flags().BoolVarP(&force, "force", "f", false, "force the removal of one or more volumes")
	var all, pforce bool
	prune := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused local volumes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_ = pforce
			q := url.Values{}
			if all {
				b, _ := json.Marshal(map[string]map[string]bool{"all": {"true": true}})
				q.Set("filters", string(b))
			}
			var rep struct {
				VolumesDeleted []string
				SpaceReclaimed uint64
			}
			if err := c.api.postJSON(cmd.Context(), "/volumes/prune", q, nil, &rep); err != nil {
				return err
			}
			if len(rep.VolumesDeleted) > 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "Deleted Volumes:")
				for _, n := range rep.VolumesDeleted {
					fmt.Fprintln(cmd.OutOrStdout(), n)
				}
				fmt.Fprintln(cmd.OutOrStdout())
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Total reclaimed space: %s\n", humanSize(int64(rep.SpaceReclaimed)))
			return nil
		},
	}
	prune.Flags().BoolVarP(&all, "all", "a", false, "remove all unused volumes, not just anonymous ones")
	prune.Flags().BoolVarP(&pforce, "force", "f", false, "do not prompt for confirmation")
	v.AddCommand(create, ls, inspect, rm, prune)
	return v
}

func kvMap(kvs []string) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}
