package container

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/linux/cgroups"
)

// cgroup opens a running container's cgroup (path from its spec).
func (s *Service) cgroup(term string) (*Container, *cgroups.Manager, error) {
	c, err := s.Get(term)
	if err != nil {
		return nil, nil, err
	}
	if !c.State.Running() {
		return c, nil, errdefs.Conflict("container %s is not running", c.ID[:12])
	}
	raw, err := os.ReadFile(filepath.Join(s.bundleDir(c.ID), "config.json"))
	if err != nil {
		return c, nil, err
	}
	var spec specs.Spec
	if err := json.Unmarshal(raw, &spec); err != nil || spec.Linux == nil {
		return c, nil, errdefs.Internal("container %s: unreadable spec", c.ID[:12])
	}
	m, err := cgroups.Open(spec.Linux.CgroupsPath, false)
	return c, m, err
}

// Stats reads a running container's cgroup statistics (v1 or v2).
func (s *Service) Stats(ctx context.Context, term string) (*Container, *cgroups.Stats, error) {
	c, m, err := s.cgroup(term)
	if err != nil {
		return c, nil, err
	}
	st, err := m.Stats()
	return c, st, err
}

// Top lists the container's processes as ps -ef does.
func (s *Service) Top(term string) ([]string, [][]string, error) {
	_, m, err := s.cgroup(term)
	if err != nil {
		return nil, nil, err
	}
	pids, err := m.Pids()
	if err != nil {
		return nil, nil, err
	}
	titles := []string{"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"}
	var rows [][]string
	for _, pid := range pids {
		if r, ok := psRow(pid); ok {
			rows = append(rows, r)
		}
	}
	return titles, rows, nil
}

// psRow reads one process's ps -ef columns from /proc.
func psRow(pid int) ([]string, bool) {
	dir := "/proc/" + strconv.Itoa(pid)
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return nil, false
	}
	// Fields after the ")" that ends the command name.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return nil, false
	}
	f := strings.Fields(string(stat[i+2:]))
	if len(f) < 20 {
		return nil, false
	}
	ppid := f[1]
	utime, _ := strconv.ParseUint(f[11], 10, 64)
	stime, _ := strconv.ParseUint(f[12], 10, 64)
	secs := (utime + stime) / 100
	cpuTime := fmt.Sprintf("%02d:%02d:%02d", secs/3600, secs/60%60, secs%60)
	uid := "?"
	if st, err := os.ReadFile(dir + "/status"); err == nil {
		for _, l := range strings.Split(string(st), "\n") {
			if v, ok := strings.CutPrefix(l, "Uid:"); ok {
				if fs := strings.Fields(v); len(fs) > 0 {
					uid = fs[0]
				}
			}
		}
	}
	cmd, _ := os.ReadFile(dir + "/cmdline")
	command := strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " "))
	if command == "" {
		command = "[" + string(stat[bytes.IndexByte(stat, '(')+1:i]) + "]"
	}
	start := "?"
	if fi, err := os.Stat(dir); err == nil {
		start = fi.ModTime().Format("15:04")
	}
	return []string{uid, strconv.Itoa(pid), ppid, "0", start, "?", cpuTime, command}, true
}

// Update changes a running or stopped container's resources (through its
// runtime when running) and restart policy, and records them.
func (s *Service) Update(ctx context.Context, term string, r container.Resources, policy *container.RestartPolicy) error {
	c, err := s.Get(term)
	if err != nil {
		return err
	}
	if policy != nil && policy.Name != "" {
		h := *c.HostConfig
		h.RestartPolicy = *policy
		if err := checkHostConfig(&h); err != nil {
			return err
		}
	}
	lr := specs.LinuxResources{}
	if r.Memory != 0 || r.MemorySwap != 0 || r.MemoryReservation != 0 {
		lr.Memory = &specs.LinuxMemory{}
		if r.Memory != 0 {
			lr.Memory.Limit = &r.Memory
		}
		if r.MemorySwap != 0 {
			lr.Memory.Swap = &r.MemorySwap
		} else if r.Memory > 0 && c.HostConfig.MemorySwap == 0 {
			swap := 2 * r.Memory
			lr.Memory.Swap = &swap
		}
		if r.MemoryReservation != 0 {
			lr.Memory.Reservation = &r.MemoryReservation
		}
	}
	if r.CPUShares != 0 || r.NanoCPUs != 0 || r.CPUQuota != 0 || r.CPUPeriod != 0 || r.CpusetCpus != "" || r.CpusetMems != "" {
		lr.CPU = &specs.LinuxCPU{Cpus: r.CpusetCpus, Mems: r.CpusetMems}
		if r.CPUShares != 0 {
			sh := uint64(r.CPUShares)
			lr.CPU.Shares = &sh
		}
		if r.NanoCPUs != 0 {
			period := uint64(100000)
			quota := r.NanoCPUs * int64(period) / 1e9
			lr.CPU.Period, lr.CPU.Quota = &period, &quota
		}
		if r.CPUQuota != 0 {
			lr.CPU.Quota = &r.CPUQuota
		}
		if r.CPUPeriod != 0 {
			p := uint64(r.CPUPeriod)
			lr.CPU.Period = &p
		}
	}
	if r.PidsLimit != nil {
		lr.Pids = &specs.LinuxPids{Limit: r.PidsLimit}
	}
	if r.BlkioWeight != 0 {
		w := r.BlkioWeight
		lr.BlockIO = &specs.LinuxBlockIO{Weight: &w}
	}
	if c.State.Running() {
		f, err := os.CreateTemp("", "berth-update-*.json")
		if err != nil {
			return err
		}
		defer os.Remove(f.Name())
		json.NewEncoder(f).Encode(lr)
		f.Close()
		if err := s.runtime(ctx, c, "update", "-r", f.Name(), c.ID); err != nil {
			return errdefs.InvalidArgument("update %s: %v", term, err)
		}
	}
	_, err = s.update(c.ID, func(c *Container) error {
		h := c.HostConfig
		if r.Memory != 0 {
			h.Memory = r.Memory
		}
		if r.MemorySwap != 0 {
			h.MemorySwap = r.MemorySwap
		}
		if r.MemoryReservation != 0 {
			h.MemoryReservation = r.MemoryReservation
		}
		if r.CPUShares != 0 {
			h.CPUShares = r.CPUShares
		}
		if r.NanoCPUs != 0 {
			h.NanoCPUs = r.NanoCPUs
		}
		if r.CPUQuota != 0 {
			h.CPUQuota = r.CPUQuota
		}
		if r.CPUPeriod != 0 {
			h.CPUPeriod = r.CPUPeriod
		}
		if r.CpusetCpus != "" {
			h.CpusetCpus = r.CpusetCpus
		}
		if r.CpusetMems != "" {
			h.CpusetMems = r.CpusetMems
		}
		if r.PidsLimit != nil {
			h.PidsLimit = r.PidsLimit
		}
		if r.BlkioWeight != 0 {
			h.BlkioWeight = r.BlkioWeight
		}
		if policy != nil && policy.Name != "" {
			h.RestartPolicy = *policy
		}
		return nil
	})
	return err
}

// ProcessUser is the user a started container's process runs as (from
// its bundle), nil if unknown.
func (s *Service) ProcessUser(id string) *specs.User {
	if c, err := s.Get(id); err == nil && c.State.User != nil {
		return c.State.User
	}
	// Started before the record kept it.
	raw, err := os.ReadFile(filepath.Join(s.bundleDir(id), "config.json"))
	if err != nil {
		return nil
	}
	var spec specs.Spec
	if json.Unmarshal(raw, &spec) != nil || spec.Process == nil {
		return nil
	}
	return &spec.Process.User
}
