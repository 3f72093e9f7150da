package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// TestCgroupHugetlbAndCPUAccounting: hugetlb limits land in whichever
// hierarchy holds the controller (v1, or the unified mount of the hybrid
// layout), and cpuacct accounting shows up in events --stats.
func TestCgroupHugetlbAndCPUAccounting(t *testing.T) {
	r := newRT(t)
	limit := uint64(4 << 20)
	var cgPath string
	b := bundle(t, func(s *specs.Spec) {
		s.Linux.Resources.HugepageLimits = []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: limit}}
		cgPath = s.Linux.CgroupsPath
	}, "sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 100")
	r.must("run", "-d", "--bundle", b, "huge")
	candidates := []string{
		filepath.Join("/sys/fs/cgroup/hugetlb", cgPath, "hugetlb.2MB.limit_in_bytes"),
		filepath.Join("/sys/fs/cgroup/unified", cgPath, "hugetlb.2MB.max"),
		filepath.Join("/sys/fs/cgroup", cgPath, "hugetlb.2MB.max"),
	}
	found := false
	for _, f := range candidates {
		if v, err := os.ReadFile(f); err == nil {
			found = true
			if strings.TrimSpace(string(v)) != "4194304" {
				t.Errorf("%s = %q, want 4194304", f, v)
			}
			break
		}
	}
	if !found {
		t.Fatalf("no hugetlb limit file among %v", candidates)
	}
	// Let the loop burn some CPU, then read the accounting.
	var st struct {
		Data struct {
			CPU struct {
				Usage struct {
					Total uint64 `json:"total"`
				} `json:"usage"`
			} `json:"cpu"`
		} `json:"data"`
	}
	for i := 0; i < 50 && st.Data.CPU.Usage.Total == 0; i++ {
		out := r.must("events", "--stats", "huge")
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("events --stats: %v: %s", err, out)
		}
	}
	if st.Data.CPU.Usage.Total == 0 {
		t.Fatal("cpuacct usage stays 0 for a busy container")
	}
}
