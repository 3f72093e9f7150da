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

// inspectCmd is the top-level inspect: containers first, then images, as
// docker does.
func (c *cli) inspectCmd() *cobra.Command {
	var format, typ string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NAME|ID [NAME|ID...]",
		Short: "Return low-level information on Berth objects",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch typ {
			case "container":
				return c.inspect(cmd, args, format, "/containers/%s/json")
			case "image":
				return c.inspect(cmd, args, format, "/images/%s/json")
			case "":
				return c.inspect(cmd, args, format, "/containers/%s/json", "/images/%s/json")
			}
			return fmt.Errorf("%q is not a valid value for --type", typ)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "format output using a Go template or json")
	cmd.Flags().StringVar(&typ, "type", "", "only inspect objects of this type (container, image)")
	return cmd
}

// inspect prints objects as a JSON array, or each through a template.
func (c *cli) inspect(cmd *cobra.Command, names []string, format string, pathFmts ...string) error {
	var objs []json.RawMessage
	var failed []string
	for _, n := range names {
		var raw json.RawMessage
		var err error
		for _, pf := range pathFmts {
			if err = c.api.getJSON(cmd.Context(), fmt.Sprintf(pf, escapeName(n)), nil, &raw); !errdefs.IsNotFound(err) {
				break
			}
		}
		if err != nil {
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
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber() // 134217728, not 1.34217728e+08
			dec.Decode(&v)
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
