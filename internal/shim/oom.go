package shim

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// oomCounter reads the OOM-kill count of a process's memory cgroup: found
// at the start (the runtime may remove the cgroup only after the shim has
// recorded the exit), read at the exit.
type oomCounter struct {
	file string // memory.oom_control (v1) or memory.events (v2)
	base uint64
}

// newOOMCounter finds pid's memory cgroup; nil if it has none.
func newOOMCounter(pid int) *oomCounter {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return nil
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	var file string
	for sc.Scan() {
		// hierarchy-ID:controllers:path
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == "memory" {
				file = filepath.Join("/sys/fs/cgroup/memory", parts[2], "memory.oom_control")
			}
		}
		if parts[0] == "0" && file == "" {
			if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", parts[2], "memory.events")); err == nil {
				file = filepath.Join("/sys/fs/cgroup", parts[2], "memory.events")
			}
		}
	}
	if file == "" {
		return nil
	}
	o := &oomCounter{file: file}
	o.base, _ = o.read()
	return o
}

func (o *oomCounter) read() (uint64, error) {
	b, err := os.ReadFile(o.file)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, nil
}

// killed reports whether the kernel's OOM killer struck since the start.
func (o *oomCounter) killed() bool {
	if o == nil {
		return false
	}
	n, err := o.read()
	return err == nil && n > o.base
}
