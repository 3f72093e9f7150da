package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"

	"github.com/docker/go-units"
)

var templateFuncs = template.FuncMap{
	"json": func(v any) string {
		b, _ := json.Marshal(v)
		return string(b)
	},
	"upper": strings.ToUpper,
	"lower": strings.ToLower,
	"title": func(s string) string {
		if s == "" {
			return s
		}
		return strings.ToUpper(s[:1]) + s[1:]
	},
	"join":  strings.Join,
	"split": strings.Split,
	"truncate": func(s string, n int) string {
		if len(s) > n {
			return s[:n]
		}
		return s
	},
	"println": fmt.Sprintln,
}

// writeList prints rows as docker does for --format: "" or "table" for
// the default table, "table <tmpl>" for a custom table, "json" for one
// JSON object per line, or a bare Go template per row.
func writeList[T any](w io.Writer, format, defaultTable string, rows []T, titles ...map[string]string) error {
	switch {
	case format == "json":
		enc := json.NewEncoder(w)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	case format == "" || format == "table":
		format = "table " + defaultTable
	}
	table := false
	if t, ok := strings.CutPrefix(format, "table "); ok {
		format, table = t, true
	}
	format = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(format)
	tmpl, err := template.New("format").Funcs(templateFuncs).Parse(format)
	if err != nil {
		return fmt.Errorf("template parsing error: %v", err)
	}
	out := w
	var tw *tabwriter.Writer
	if table {
		tw = tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)
		out = tw
		// The header is the template rendered with column names.
		h := headerRow(format)
		for _, t := range titles {
			for k, v := range t {
				if _, ok := h[k]; ok {
					h[k] = v
				}
			}
		}
		if err := tmpl.Execute(out, h); err != nil {
			return err
		}
		fmt.Fprintln(out)
	}
	for _, r := range rows {
		if err := tmpl.Execute(out, r); err != nil {
			return fmt.Errorf("template: %v", err)
		}
		fmt.Fprintln(out)
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}

// headerRow maps each {{.Field}} to its upper-case column title.
func headerRow(format string) map[string]string {
	h := map[string]string{}
	for _, part := range strings.Split(format, "{{") {
		f, _, ok := strings.Cut(part, "}}")
		if !ok {
			continue
		}
		f = strings.TrimSpace(f)
		if name, ok := strings.CutPrefix(f, "."); ok {
			h[name] = columnTitle(name)
		}
	}
	return h
}

var columnTitles = map[string]string{
	"ID": "IMAGE ID", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Repository": "REPOSITORY",
	"Tag": "TAG", "Size": "SIZE", "Digest": "DIGEST", "CreatedBy": "CREATED BY", "Comment": "COMMENT",
}

func columnTitle(name string) string {
	if t, ok := columnTitles[name]; ok {
		return t
	}
	return strings.ToUpper(name)
}

// since formats a time as "5 minutes ago".
func since(t time.Time) string {
	if t.IsZero() || t.Unix() <= 0 {
		return "N/A"
	}
	return units.HumanDuration(time.Since(t)) + " ago"
}
