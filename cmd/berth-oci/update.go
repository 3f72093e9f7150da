package main

import (
	"encoding/json"
	"io"
	"os"
	"strconv"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/errdefs"
)

func updateCmd(g *globals) *command {
	var file string
	vals := map[string]*string{}
	c := newCommand("update", "<container-id>", "change the resource limits of a container", 1, 1)
	fs := c.flags
	stringFlag(fs, &file, "resources", "r", "", "path to a linux.resources JSON file (- for stdin)")
	for _, f := range []struct{ name, usage string }{
		{"memory", "memory limit in bytes"},
		{"memory-reservation", "memory soft limit in bytes"},
		{"memory-swap", "memory+swap limit in bytes (-1: unlimited)"},
		{"cpu-shares", "CPU shares"},
		{"cpu-quota", "CPU CFS quota in µs"},
		{"cpu-period", "CPU CFS period in µs"},
		{"cpu-rt-runtime", "realtime runtime in µs"},
		{"cpu-rt-period", "realtime period in µs"},
		{"cpuset-cpus", "CPUs allowed (0-3,5)"},
		{"cpuset-mems", "memory nodes allowed"},
		{"pids-limit", "maximum number of processes"},
		{"blkio-weight", "block I/O weight (10-1000)"},
		{"kernel-memory", "ignored: kernel memory limits are gone from current kernels"},
		{"kernel-memory-tcp", "ignored"},
	} {
		vals[f.name] = fs.String(f.name, "", f.usage)
	}
	c.run = func(args []string) error {
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
		set := setFlags(fs)
		given := map[string]string{}
		for name, v := range vals {
			if set[name] {
				given[name] = *v
			}
		}
		if err := resourcesFromFlags(given, r); err != nil {
			return err
		}
		return h.Update(r)
	}
	return c
}

// resourcesFromFlags applies the flags that were given (name → value).
func resourcesFromFlags(given map[string]string, r *specs.LinuxResources) error {
	i64 := func(name string, set func(int64)) error {
		v, ok := given[name]
		if !ok {
			return nil
		}
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
	if v, ok := given["cpuset-cpus"]; ok {
		cpu().Cpus = v
	}
	if v, ok := given["cpuset-mems"]; ok {
		cpu().Mems = v
	}
	return nil
}
