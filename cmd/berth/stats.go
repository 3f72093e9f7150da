package main

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

type apiStats struct {
	ID, Name string
	CPUStats struct {
		CPUUsage struct {
			TotalUsage uint64 `json:"total_usage"`
		} `json:"cpu_usage"`
		SystemUsage uint64 `json:"system_cpu_usage"`
		OnlineCPUs  uint32 `json:"online_cpus"`
	} `json:"cpu_stats"`
	PreCPUStats struct {
		CPUUsage struct {
			TotalUsage uint64 `json:"total_usage"`
		} `json:"cpu_usage"`
		SystemUsage uint64 `json:"system_cpu_usage"`
	} `json:"precpu_stats"`
	MemoryStats struct {
		Usage uint64            `json:"usage"`
		Limit uint64            `json:"limit"`
		Stats map[string]uint64 `json:"stats"`
	} `json:"memory_stats"`
	PidsStats struct {
		Current uint64 `json:"current"`
	} `json:"pids_stats"`
	BlkioStats struct {
		IoServiceBytesRecursive []struct {
			Op    string
			Value uint64
		} `json:"io_service_bytes_recursive"`
	} `json:"blkio_stats"`
}

// statsRow is one line of `berth stats`, with docker's --format names.
type statsRow struct {
	Container, ID, Name, CPUPerc, MemUsage, MemPerc, NetIO, BlockIO, PIDs string
}

func (s apiStats) row() statsRow {
	cpu := 0.0
	if d, sd := float64(s.CPUStats.CPUUsage.TotalUsage)-float64(s.PreCPUStats.CPUUsage.TotalUsage),
		float64(s.CPUStats.SystemUsage)-float64(s.PreCPUStats.SystemUsage); d > 0 && sd > 0 && s.PreCPUStats.SystemUsage > 0 {
		cpu = d / sd * float64(s.CPUStats.OnlineCPUs) * 100
	}
	mem := s.MemoryStats.Usage
	// Page cache the kernel can drop is not the container's memory.
	for _, k := range []string{"total_inactive_file", "inactive_file"} {
		if v, ok := s.MemoryStats.Stats[k]; ok && v < mem {
			mem -= v
			break
		}
	}
	memPerc := 0.0
	if s.MemoryStats.Limit > 0 {
		memPerc = float64(mem) / float64(s.MemoryStats.Limit) * 100
	}
	var rd, wr uint64
	for _, e := range s.BlkioStats.IoServiceBytesRecursive {
		switch strings.ToLower(e.Op) {
		case "read":
			rd += e.Value
		case "write":
			wr += e.Value
		}
	}
	return statsRow{Container: shortID(s.ID), ID: shortID(s.ID), Name: strings.TrimPrefix(s.Name, "/"),
		CPUPerc: fmt.Sprintf("%.2f%%", cpu), MemUsage: binSize(mem) + " / " + binSize(s.MemoryStats.Limit),
		MemPerc: fmt.Sprintf("%.2f%%", memPerc), NetIO: "0B / 0B", BlockIO: humanSize(int64(rd)) + " / " + humanSize(int64(wr)),
		PIDs: fmt.Sprint(s.PidsStats.Current)}
}

// binSize is docker's binary-unit size (MiB, GiB).
func binSize(n uint64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	f := float64(n)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	return fmt.Sprintf("%.4g%s", f, units[i])
}

func (c *cli) statsCmd() *cobra.Command {
	var noStream, all bool
	var format string
	cmd := &cobra.Command{
		Use:   "stats [OPTIONS] [CONTAINER...]",
		Short: "Display a live stream of container(s) resource usage statistics",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			names := args
			if len(names) == 0 {
				q := url.Values{}
				if all {
					q.Set("all", "1")
				}
				var list []apiContainer
				if err := c.api.getJSON(ctx, "/containers/json", q, &list); err != nil {
					return err
				}
				for _, ct := range list {
					names = append(names, ct.ID)
				}
			}
			tty := term.IsTerminal(int(os.Stdout.Fd()))
			for {
				rows := make([]statsRow, len(names))
				errs := make([]error, len(names))
				var wg sync.WaitGroup
				for i, n := range names {
					wg.Add(1)
					go func() {
						defer wg.Done()
						var s apiStats
						errs[i] = c.api.getJSON(ctx, "/containers/"+url.PathEscape(n)+"/stats", url.Values{"stream": {"0"}}, &s)
						rows[i] = s.row()
					}()
				}
				wg.Wait()
				for _, err := range errs {
					if err != nil && len(args) > 0 {
						return err
					}
				}
				if !noStream && tty {
					fmt.Fprint(cmd.OutOrStdout(), "\x1b[2J\x1b[H")
				}
				if err := writeList(cmd.OutOrStdout(), format, "{{.Container}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}", rows,
					map[string]string{"Container": "CONTAINER ID", "CPUPerc": "CPU %", "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O"}); err != nil {
					return err
				}
				if noStream || ctx.Err() != nil {
					return nil
				}
			}
		},
	}
	cmd.Flags().BoolVar(&noStream, "no-stream", false, "disable streaming stats and only pull the first result")
	cmd.Flags().BoolVarP(&all, "all", "a", false, "show all containers (default shows just running)")
	cmd.Flags().StringVar(&format, "format", "", "format output: table, json, or a Go template")
	return cmd
}
