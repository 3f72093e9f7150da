package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"text/template"
	"time"

	"github.com/spf13/cobra"
)

func decodeAndClose(resp *response, v any) error {
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

func (c *cli) versionCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "version [OPTIONS]",
		Short: "Show the Berth version information",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var server map[string]any
			serr := c.api.getJSON(cmd.Context(), "/version", nil, &server)
			v := map[string]any{"Client": map[string]any{"Version": version, "ApiVersion": apiVersion, "Os": "linux"}, "Server": server}
			if format != "" {
				return execTemplate(cmd, format, v)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Client:\n Version:\t%s\n API version:\t%s\n", version, apiVersion)
			if serr != nil {
				return serr
			}
			fmt.Fprintf(out, "\nServer: %v\n Version:\t%v\n API version:\t%v (minimum version %v)\n Go version:\t%v\n OS/Arch:\t%v/%v\n",
				nested(server, "Platform", "Name"), server["Version"], server["ApiVersion"], server["MinAPIVersion"], server["GoVersion"], server["Os"], server["Arch"])
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "format output using a Go template or json")
	return cmd
}

func nested(m map[string]any, keys ...string) any {
	var v any = m
	for _, k := range keys {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

func execTemplate(cmd *cobra.Command, format string, v any) error {
	if format == "json" {
		b, _ := json.Marshal(v)
		fmt.Fprintln(cmd.OutOrStdout(), string(b))
		return nil
	}
	t, err := template.New("f").Funcs(templateFuncs).Parse(format)
	if err != nil {
		return fmt.Errorf("template parsing error: %v", err)
	}
	if err := t.Execute(cmd.OutOrStdout(), v); err != nil {
		return err
	}
	fmt.Fprintln(cmd.OutOrStdout())
	return nil
}

func (c *cli) infoCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "info [OPTIONS]",
		Short: "Display system-wide information",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var info map[string]any
			if err := c.api.getJSON(cmd.Context(), "/info", nil, &info); err != nil {
				return err
			}
			if format != "" {
				return execTemplate(cmd, format, info)
			}
			out := cmd.OutOrStdout()
			for _, k := range []string{"ServerVersion", "Containers", "Images", "Driver", "CgroupDriver", "CgroupVersion",
				"DefaultRuntime", "KernelVersion", "OperatingSystem", "Architecture", "NCPU", "MemTotal", "DockerRootDir", "Name"} {
				fmt.Fprintf(out, " %s: %v\n", k, info[k])
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "format output using a Go template or json")
	return cmd
}

func (c *cli) dfCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "df [OPTIONS]",
		Short: "Show Berth disk usage",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var du struct {
				LayersSize int64
				Images     []apiImage
			}
			if err := c.api.getJSON(cmd.Context(), "/system/df", nil, &du); err != nil {
				return err
			}
			type row struct{ Type, TotalCount, Active, Size, Reclaimable string }
			rows := []row{
				{"Images", fmt.Sprint(len(du.Images)), "0", humanSize(du.LayersSize), humanSize(du.LayersSize)},
				{"Containers", "0", "0", "0B", "0B"},
				{"Local Volumes", "0", "0", "0B", "0B"},
				{"Build Cache", "0", "0", "0B", "0B"},
			}
			return writeList(cmd.OutOrStdout(), format, "{{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}", rows)
		},
	}
	cmd.Flags().StringVar(&format, "format", "", "format output: table, json, or a Go template")
	return cmd
}

func (c *cli) eventsCmd() *cobra.Command {
	var sinceF, untilF, format string
	var filter []string
	cmd := &cobra.Command{
		Use:   "events [OPTIONS]",
		Short: "Get real time events from the server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{}
			if sinceF != "" {
				q.Set("since", sinceF)
			}
			if untilF != "" {
				q.Set("until", untilF)
			}
			if f := filterJSON(filter); f != "" {
				q.Set("filters", f)
			}
			resp, err := c.api.do(cmd.Context(), "GET", "/events", q, nil, nil)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			dec := json.NewDecoder(resp.Body)
			for {
				var e struct {
					Type, Action string
					Actor        struct {
						ID         string
						Attributes map[string]string
					}
					TimeNano int64 `json:"timeNano"`
				}
				if err := dec.Decode(&e); err != nil {
					return nil
				}
				if format != "" {
					if err := execTemplate(cmd, format, e); err != nil {
						return err
					}
					continue
				}
				var attrs []string
				for k, v := range e.Actor.Attributes {
					attrs = append(attrs, k+"="+v)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s %s %s (%s)\n", time.Unix(0, e.TimeNano).Format("2006-01-02T15:04:05.000000000-07:00"),
					e.Type, e.Action, e.Actor.ID, strings.Join(attrs, ", "))
			}
		},
	}
	cmd.Flags().StringVar(&sinceF, "since", "", "show all events created since timestamp")
	cmd.Flags().StringVar(&untilF, "until", "", "stream events until this timestamp")
	cmd.Flags().StringVar(&format, "format", "", "format output using a Go template or json")
	cmd.Flags().StringArrayVarP(&filter, "filter", "f", nil, "filter output based on conditions provided")
	return cmd
}
