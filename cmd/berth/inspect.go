package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"text/template"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/errdefs"
)

func (c *cli) imageInspectCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] IMAGE [IMAGE...]",
		Short: "Display detailed information on one or more images",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.inspect(cmd, args, format, "/images/%s/json")
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "format output using a Go template or json")
	return cmd
}

// inspectCmd is the top-level inspect; today it knows images.
func (c *cli) inspectCmd() *cobra.Command {
	cmd := c.imageInspectCmd()
	cmd.Short = "Return low-level information on Berth objects"
	var typ string
	cmd.Flags().StringVar(&typ, "type", "", "only inspect objects of this type (image)")
	return cmd
}

// inspect prints objects as a JSON array, or each through a template.
func (c *cli) inspect(cmd *cobra.Command, names []string, format, pathFmt string) error {
	var objs []json.RawMessage
	var failed []string
	for _, n := range names {
		var raw json.RawMessage
		if err := c.api.getJSON(cmd.Context(), fmt.Sprintf(pathFmt, escapeName(n)), nil, &raw); err != nil {
			if errdefs.IsNotFound(err) {
				failed = append(failed, "Error: No such object: "+n)
				continue
			}
			return err
		}
		objs = append(objs, raw)
	}
	out := cmd.OutOrStdout()
	switch {
	case format == "" || format == "json":
		if len(objs) == 0 {
			objs = []json.RawMessage{}
		}
		b, _ := json.Marshal(objs)
		var buf bytes.Buffer
		json.Indent(&buf, b, "", "    ")
		fmt.Fprintln(out, buf.String())
	default:
		tmpl, err := template.New("inspect").Funcs(templateFuncs).Parse(format)
		if err != nil {
			return fmt.Errorf("template parsing error: %v", err)
		}
		for _, raw := range objs {
			var v any
			json.Unmarshal(raw, &v)
			if err := tmpl.Execute(out, v); err != nil {
				return fmt.Errorf("template: %v", err)
			}
			fmt.Fprintln(out)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%s", strings.TrimPrefix(strings.Join(failed, "\n"), "Error: "))
	}
	return nil
}
