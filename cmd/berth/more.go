package main

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func (c *cli) topCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "top CONTAINER [ps OPTIONS]",
		Short: "Display the running processes of a container",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var top struct {
				Titles    []string
				Processes [][]string
			}
			if err := c.api.getJSON(cmd.Context(), "/containers/"+url.PathEscape(args[0])+"/top", nil, &top); err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 1, 8, 1, ' ', 0)
			fmt.Fprintln(w, strings.Join(top.Titles, "\t"))
			for _, p := range top.Processes {
				fmt.Fprintln(w, strings.Join(p, "\t"))
			}
			return w.Flush()
		},
	}
}

func (c *cli) updateCmd() *cobra.Command {
	var memory, memorySwap, memoryReservation, cpus, cpusetCpus, cpusetMems, restart string
	var cpuShares, pidsLimit, cpuQuota, cpuPeriod int64
	cmd := &cobra.Command{
		Use:   "update [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Update configuration of one or more containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body := map[string]any{"CpuShares": cpuShares, "CpusetCpus": cpusetCpus, "CpusetMems": cpusetMems, "CpuQuota": cpuQuota, "CpuPeriod": cpuPeriod}
			for flag, v := range map[string]string{"Memory": memory, "MemorySwap": memorySwap, "MemoryReservation": memoryReservation} {
				n, err := parseSize(strings.ToLower(flag), v)
				if err != nil {
					return err
				}
				if n != 0 {
					body[flag] = n
				}
			}
			if cpus != "" {
				f, err := strconv.ParseFloat(cpus, 64)
				if err != nil || f < 0 {
					return fmt.Errorf("invalid argument %q for \"--cpus\" flag", cpus)
				}
				body["NanoCpus"] = int64(f * 1e9)
			}
			if cmd.Flags().Changed("pids-limit") {
				body["PidsLimit"] = pidsLimit
			}
			if restart != "" {
				name, n, _ := strings.Cut(restart, ":")
				rp := map[string]any{"Name": name}
				if n != "" {
					k, err := strconv.Atoi(n)
					if err != nil {
						return fmt.Errorf("invalid restart policy %q", restart)
					}
					rp["MaximumRetryCount"] = k
				}
				body["RestartPolicy"] = rp
			}
			return c.each(cmd, args, func(n string) error {
				return c.api.postJSON(cmd.Context(), "/containers/"+url.PathEscape(n)+"/update", nil, body, nil)
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&memory, "memory", "m", "", "memory limit")
	f.StringVar(&memorySwap, "memory-swap", "", "swap limit equal to memory plus swap: -1 to enable unlimited swap")
	f.StringVar(&memoryReservation, "memory-reservation", "", "memory soft limit")
	f.StringVar(&cpus, "cpus", "", "number of CPUs")
	f.StringVar(&cpusetCpus, "cpuset-cpus", "", "CPUs in which to allow execution")
	f.StringVar(&cpusetMems, "cpuset-mems", "", "MEMs in which to allow execution")
	f.Int64VarP(&cpuShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	f.Int64Var(&cpuQuota, "cpu-quota", 0, "limit CPU CFS quota")
	f.Int64Var(&cpuPeriod, "cpu-period", 0, "limit CPU CFS period")
	f.Int64Var(&pidsLimit, "pids-limit", 0, "tune container pids limit (-1 for unlimited)")
	f.StringVar(&restart, "restart", "", "restart policy to apply when a container exits")
	return cmd
}

func (c *cli) portCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "port CONTAINER [PRIVATE_PORT[/PROTO]]",
		Short: "List port mappings or a specific mapping for the container",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var info struct {
				NetworkSettings struct {
					Ports map[string][]struct{ HostIP, HostPort string } `json:"Ports"`
				}
			}
			if err := c.api.getJSON(cmd.Context(), "/containers/"+url.PathEscape(args[0])+"/json", nil, &info); err != nil {
				return err
			}
			found := false
			for p, bs := range info.NetworkSettings.Ports {
				if len(args) == 2 && p != args[1] && p != args[1]+"/tcp" {
					continue
				}
				for _, b := range bs {
					found = true
					fmt.Fprintf(cmd.OutOrStdout(), "%s -> %s:%s\n", p, b.HostIP, b.HostPort)
				}
			}
			if len(args) == 2 && !found {
				return fmt.Errorf("no public port '%s' published for %s", args[1], args[0])
			}
			return nil
		},
	}
}

func (c *cli) attachCmd() *cobra.Command {
	var noStdin bool
	cmd := &cobra.Command{
		Use:   "attach [OPTIONS] CONTAINER",
		Short: "Attach local standard input, output, and error streams to a running container",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var info struct {
				ID     string `json:"Id"`
				Config struct{ Tty, OpenStdin bool }
				State  struct{ Running bool }
			}
			if err := c.api.getJSON(ctx, "/containers/"+url.PathEscape(args[0])+"/json", nil, &info); err != nil {
				return err
			}
			if !info.State.Running {
				return fmt.Errorf("you cannot attach to a stopped container, start it first")
			}
			stdin := info.Config.OpenStdin && !noStdin
			q := url.Values{"stream": {"1"}, "stdout": {"1"}, "stderr": {"1"}}
			if stdin {
				q.Set("stdin", "1")
			}
			conn, stream, err := c.api.hijack(ctx, "/containers/"+info.ID+"/attach", q, "")
			if err != nil {
				return err
			}
			defer conn.Close()
			if info.Config.Tty && term.IsTerminal(int(os.Stdin.Fd())) {
				if st, err := term.MakeRaw(int(os.Stdin.Fd())); err == nil {
					defer term.Restore(int(os.Stdin.Fd()), st)
				}
				c.resizeLoop(ctx, "/containers/"+info.ID+"/resize")
			}
			if stdin {
				go io.Copy(conn, os.Stdin)
			}
			if info.Config.Tty {
				io.Copy(os.Stdout, stream)
			} else {
				demux(stream, os.Stdout, os.Stderr)
			}
			var st struct{ State struct{ ExitCode int } }
			if err := c.api.getJSON(ctx, "/containers/"+info.ID+"/json", nil, &st); err == nil && st.State.ExitCode != 0 {
				return exitError{code: st.State.ExitCode}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&noStdin, "no-stdin", false, "do not attach STDIN")
	return cmd
}
