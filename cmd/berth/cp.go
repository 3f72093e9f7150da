package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/archive"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/unpack"
)

// splitCp reads "container:path" (a plain path has no container).
func splitCp(arg string) (ctr, p string) {
	if filepath.IsAbs(arg) || strings.HasPrefix(arg, ".") {
		return "", arg
	}
	if c, p, ok := strings.Cut(arg, ":"); ok {
		return c, p
	}
	return "", arg
}

func (c *cli) cpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "cp CONTAINER:SRC_PATH DEST_PATH|-\n  berth cp SRC_PATH|- CONTAINER:DEST_PATH",
		Short: "Copy files/folders between a container and the local filesystem",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			sc, sp := splitCp(args[0])
			dc, dp := splitCp(args[1])
			switch {
			case sc != "" && dc == "":
				return c.cpFrom(cmd.Context(), sc, sp, dp)
			case sc == "" && dc != "":
				return c.cpTo(cmd.Context(), sp, dc, dp)
			}
			return errors.New("copying between containers or between local paths is not supported: exactly one side must be CONTAINER:PATH")
		},
	}
}

func (c *cli) cpFrom(ctx context.Context, ctr, src, dst string) error {
	resp, err := c.api.do(ctx, "GET", "/containers/"+url.PathEscape(ctr)+"/archive", url.Values{"path": {src}}, nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if dst == "-" {
		_, err := io.Copy(os.Stdout, resp.Body)
		return err
	}
	if st, err := os.Stat(dst); err == nil && st.IsDir() {
		_, err := unpack.Apply(ctx, dst, resp.Body, "", unpack.Options{Whiteouts: unpack.WhiteoutDelete})
		return err
	}
	// A new name: unpack beside it, then rename the one top entry.
	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(dst)), ".berth-cp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if _, err := unpack.Apply(ctx, tmp, resp.Body, "", unpack.Options{Whiteouts: unpack.WhiteoutDelete}); err != nil {
		return err
	}
	return os.Rename(filepath.Join(tmp, path.Base(strings.TrimSuffix(src, "/"))), dst)
}

func (c *cli) cpTo(ctx context.Context, src, ctr, dst string) error {
	var body io.Reader
	dir, name := dst, ""
	if src == "-" {
		body = os.Stdin
	} else {
		if _, err := os.Lstat(src); err != nil {
			return err
		}
		// Where it lands: into dst if that is a directory in the
		// container, else as dst itself.
		resp, err := c.api.do(ctx, "HEAD", "/containers/"+url.PathEscape(ctr)+"/archive", url.Values{"path": {dst}}, nil, nil)
		isDir := false
		if err == nil {
			resp.Body.Close()
			var st struct{ Mode os.FileMode }
			if raw, derr := base64.StdEncoding.DecodeString(resp.Header.Get("X-Docker-Container-Path-Stat")); derr == nil {
				json.Unmarshal(raw, &st)
			}
			isDir = st.Mode.IsDir()
		} else if !errdefs.IsNotFound(err) {
			return err
		}
		name = filepath.Base(src)
		if !isDir {
			dir, name = path.Dir(dst), path.Base(dst)
		}
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(archive.WriteTar(ctx, src, name, pw)) }()
		body = pr
	}
	resp, err := c.api.do(ctx, "PUT", "/containers/"+url.PathEscape(ctr)+"/archive", url.Values{"path": {dir}}, body, header{"Content-Type": {"application/x-tar"}})
	if err != nil {
		return fmt.Errorf("copy to %s:%s: %w", ctr, dst, err)
	}
	resp.Body.Close()
	return nil
}

func (c *cli) exportCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "export [OPTIONS] CONTAINER",
		Short: "Export a container's filesystem as a tar archive",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := c.api.do(cmd.Context(), "GET", "/containers/"+url.PathEscape(args[0])+"/export", nil, nil, nil)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if output == "" {
				_, err = io.Copy(os.Stdout, resp.Body)
				return err
			}
			f, err := os.Create(output + ".berth-tmp")
			if err != nil {
				return err
			}
			defer os.Remove(f.Name())
			if _, err := io.Copy(f, resp.Body); err != nil {
				f.Close()
				return fmt.Errorf("export cut short: %v", err)
			}
			if err := f.Close(); err != nil {
				return err
			}
			return os.Rename(f.Name(), output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to a file, instead of STDOUT")
	return cmd
}

func (c *cli) diffCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "diff CONTAINER",
		Short: "Inspect changes to files or directories on a container's filesystem",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var changes []struct {
				Path string
				Kind int
			}
			if err := c.api.getJSON(cmd.Context(), "/containers/"+url.PathEscape(args[0])+"/changes", nil, &changes); err != nil {
				return err
			}
			for _, ch := range changes {
				fmt.Fprintf(cmd.OutOrStdout(), "%c %s\n", "CAD"[ch.Kind%3], ch.Path)
			}
			return nil
		},
	}
}
