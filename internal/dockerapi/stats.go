package dockerapi

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/linux/cgroups"
)

// systemCPU is the host's total CPU time in nanoseconds (/proc/stat), the
// denominator clients use for CPU %.
func systemCPU() uint64 {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 1 && fields[0] == "cpu" {
			var ticks uint64
			for _, v := range fields[1:8] {
				n, _ := strconv.ParseUint(v, 10, 64)
				ticks += n
			}
			return ticks * (1e9 / 100) // USER_HZ is 100 on Linux
		}
	}
	return 0
}

func blkio(es []cgroups.BlkioEntry) []container.BlkioStatEntry {
	out := []container.BlkioStatEntry{}
	for _, e := range es {
		out = append(out, container.BlkioStatEntry{Major: e.Major, Minor: e.Minor, Op: e.Op, Value: e.Value})
	}
	return out
}

func toStatsResponse(st *cgroups.Stats) container.StatsResponse {
	r := container.StatsResponse{Read: time.Now().UTC(), OSType: "linux"}
	r.CPUStats = container.CPUStats{
		CPUUsage: container.CPUUsage{TotalUsage: st.CPU.Usage.Total, PercpuUsage: st.CPU.Usage.Percpu,
			UsageInKernelmode: st.CPU.Usage.Kernel, UsageInUsermode: st.CPU.Usage.User},
		SystemUsage: systemCPU(), OnlineCPUs: uint32(runtime.NumCPU()),
		ThrottlingData: container.ThrottlingData{Periods: st.CPU.Throttling.Periods, ThrottledPeriods: st.CPU.Throttling.ThrottledPeriods, ThrottledTime: st.CPU.Throttling.ThrottledTime},
	}
	r.MemoryStats = container.MemoryStats{Usage: st.Memory.Usage.Usage, MaxUsage: st.Memory.Usage.Max, Failcnt: st.Memory.Usage.Failcnt,
		Limit: st.Memory.Usage.Limit, Stats: st.Memory.Raw}
	r.PidsStats = container.PidsStats{Current: st.Pids.Current, Limit: st.Pids.Limit}
	r.BlkioStats = container.BlkioStats{
		IoServiceBytesRecursive: blkio(st.Blkio.IoServiceBytesRecursive), IoServicedRecursive: blkio(st.Blkio.IoServicedRecursive),
		IoQueuedRecursive: blkio(st.Blkio.IoQueuedRecursive), IoServiceTimeRecursive: blkio(st.Blkio.IoServiceTimeRecursive),
		IoWaitTimeRecursive: blkio(st.Blkio.IoWaitTimeRecursive), IoMergedRecursive: blkio(st.Blkio.IoMergedRecursive),
		IoTimeRecursive: blkio(st.Blkio.IoTimeRecursive), SectorsRecursive: blkio(st.Blkio.SectorsRecursive),
	}
	if r.MemoryStats.Limit == 0 || r.MemoryStats.Limit > 1<<62 {
		var si = memTotal()
		r.MemoryStats.Limit = si
	}
	return r
}

func memTotal() uint64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "MemTotal:"); ok {
			n, _ := strconv.ParseUint(strings.Fields(v)[0], 10, 64)
			return n * 1024
		}
	}
	return 0
}

// containerStats answers one sample (stream=false: with the previous one a
// second before, so clients can compute CPU %; one-shot: at once) or a
// sample a second while the client listens and the container runs.
func (s *Server) containerStats(w http.ResponseWriter, r *http.Request) {
	stream := r.URL.Query().Get("stream") == "" || boolParam(r, "stream")
	oneShot := boolParam(r, "one-shot")
	c, st, err := s.Containers.Stats(r.Context(), r.PathValue("id"))
	if err != nil && c == nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	var prev *container.StatsResponse
	emit := func(st *cgroups.Stats) container.StatsResponse {
		var resp container.StatsResponse
		if st != nil {
			resp = toStatsResponse(st)
		} else {
			resp = container.StatsResponse{Read: time.Now().UTC(), OSType: "linux"}
		}
		resp.ID, resp.Name = c.ID, "/"+c.Name
		if prev != nil {
			resp.PreRead, resp.PreCPUStats = prev.Read, prev.CPUStats
		}
		return resp
	}
	if !stream && !oneShot && st != nil {
		first := emit(st)
		prev = &first
		select {
		case <-time.After(time.Second):
		case <-r.Context().Done():
			return
		}
		_, st, _ = s.Containers.Stats(r.Context(), c.ID)
	}
	for {
		resp := emit(st)
		if err := enc.Encode(resp); err != nil || !stream {
			return
		}
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		prev = &resp
		select {
		case <-time.After(time.Second):
		case <-r.Context().Done():
			return
		}
		_, st, err = s.Containers.Stats(r.Context(), c.ID)
		if err != nil {
			st = nil // stopped: zeros, as dockerd sends
		}
	}
}
