package main

import (
	"encoding/json"
	"io"
	"os"
	"strconv"

	"github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/errdefs"
)

func updateCmd(g *globals) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "update [flags] <container-id>",
		Short: "change the resource limits of a container",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := g.store().Open(args[0])
			if err != nil {
				return err
			}
			r := &specs.LinuxResources{}
			if file != "" {
				var in io.Reader = os.Stdin
				if file != "-" {
					f, err := os.Open(file)
					if err != nil {
						return errdefs.InvalidArgument("--resources: %v", err)
					}
					defer f.Close()
					in = f
				}
				if err := json.NewDecoder(in).Decode(r); err != nil {
					return errdefs.InvalidArgument("--resources %s: %v", file, err)
				}
			}
			if err := resourcesFromFlags(cmd, r); err != nil {
				return err
			}
			return h.Update(r)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&file, "resources", "r", "", "path to a linux.resources JSON file (- for stdin)")
	f.String("memory", "", "memory limit in bytes")
	f.String("memory-reservation", "", "memory soft limit in bytes")
	f.String("memory-swap", "", "memory+swap limit in bytes (-1: unlimited)")
	f.String("cpu-shares", "", "CPU shares")
	f.String("cpu-quota", "", "CPU CFS quota in µs")
	f.String("cpu-period", "", "CPU CFS period in µs")
	f.String("cpu-rt-runtime", "", "realtime runtime in µs")
	f.String("cpu-rt-period", "", "realtime period in µs")
	f.String("cpuset-cpus", "", "CPUs allowed (0-3,5)")
	f.String("cpuset-mems", "", "memory nodes allowed")
	f.String("pids-limit", "", "maximum number of processes")
	f.String("blkio-weight", "", "block I/O weight (10-1000)")
	f.String("kernel-memory", "", "ignored: kernel memory limits are gone from current kernels")
	f.String("kernel-memory-tcp", "", "ignored")
	return cmd
}

func resourcesFromFlags(cmd *cobra.Command, r *specs.LinuxResources) error {
	f := cmd.Flags()
	i64 := func(name string, set func(int64)) error {
		if !f.Changed(name) {
			return nil
		}
		v, _ := f.GetString(name)
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return errdefs.InvalidArgument("--%s: %q is not a number", name, v)
		}
		set(n)
		return nil
	}
	mem := func() *specs.LinuxMemory {
		if r.Memory == nil {
			r.Memory = &specs.LinuxMemory{}
		}
		return r.Memory
	}
	cpu := func() *specs.LinuxCPU {
		if r.CPU == nil {
			r.CPU = &specs.LinuxCPU{}
		}
		return r.CPU
	}
	steps := []error{
		i64("memory", func(n int64) { mem().Limit = &n }),
		i64("memory-reservation", func(n int64) { mem().Reservation = &n }),
		i64("memory-swap", func(n int64) { mem().Swap = &n }),
		i64("cpu-shares", func(n int64) { u := uint64(n); cpu().Shares = &u }),
		i64("cpu-quota", func(n int64) { cpu().Quota = &n }),
		i64("cpu-period", func(n int64) { u := uint64(n); cpu().Period = &u }),
		i64("cpu-rt-runtime", func(n int64) { cpu().RealtimeRuntime = &n }),
		i64("cpu-rt-period", func(n int64) { u := uint64(n); cpu().RealtimePeriod = &u }),
		i64("pids-limit", func(n int64) { r.Pids = &specs.LinuxPids{Limit: &n} }),
		i64("blkio-weight", func(n int64) { w := uint16(n); r.BlockIO = &specs.LinuxBlockIO{Weight: &w} }),
	}
	for _, err := range steps {
		if err != nil {
			return err
		}
	}
	if f.Changed("cpuset-cpus") {
		cpu().Cpus, _ = f.GetString("cpuset-cpus")
	}
	if f.Changed("cpuset-mems") {
		cpu().Mems, _ = f.GetString("cpuset-mems")
	}
	return nil
}
