package cgroups

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/errdefs"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		r    *specs.LinuxResources
		err  string // "" = valid
	}{
		{"nil", nil, ""},
		{"empty", &specs.LinuxResources{}, ""},
		{"full", fullResources(), ""},
		{"cpuset x-", &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "x-"}}, `linux.resources.cpu.cpus: invalid cpuset "x-"`},
		{"cpuset 3-1", &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "3-1"}}, `linux.resources.cpu.cpus: invalid cpuset "3-1"`},
		{"cpuset trailing comma", &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0,"}}, `linux.resources.cpu.cpus`},
		{"cpuset list ok", &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0-3,5,7-8", Mems: "0"}}, ""},
		{"mems bad", &specs.LinuxResources{CPU: &specs.LinuxCPU{Mems: "a"}}, `linux.resources.cpu.mems: invalid cpuset "a"`},
		{"negative shares", &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64(^uint64(0))}}, "linux.resources.cpu.shares: -1 is negative"},
		{"quota < -1", &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(-2)}}, "linux.resources.cpu.quota"},
		{"quota too small", &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(10)}}, "linux.resources.cpu.quota"},
		{"quota -1 ok", &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(-1)}}, ""},
		{"period too big", &specs.LinuxResources{CPU: &specs.LinuxCPU{Period: u64(2000000)}}, "linux.resources.cpu.period"},
		{"burst above quota", &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(1000), Burst: u64(2000)}}, "linux.resources.cpu.burst"},
		{"rt runtime above period", &specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: i64(2000), RealtimePeriod: u64(1000)}}, "linux.resources.cpu.realtimeRuntime"},
		{"idle 2", &specs.LinuxResources{CPU: &specs.LinuxCPU{Idle: i64(2)}}, "linux.resources.cpu.idle"},
		{"memory limit -2", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(-2)}}, "linux.resources.memory.limit"},
		{"reservation -5", &specs.LinuxResources{Memory: &specs.LinuxMemory{Reservation: i64(-5)}}, "linux.resources.memory.reservation"},
		{"swap below limit", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(200), Swap: i64(100)}}, "linux.resources.memory.swap: 100 is below memory.limit 200"},
		{"swap -1 with limit", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(200), Swap: i64(-1)}}, ""},
		{"swappiness", &specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: u64(101)}}, "linux.resources.memory.swappiness"},
		{"kernel ignored", &specs.LinuxResources{Memory: &specs.LinuxMemory{Kernel: i64(-7), KernelTCP: i64(1)}}, ""},
		{"blkio weight", &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: u16(5)}}, "linux.resources.blockIO.weight"},
		{"blkio device weight", &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{WeightDevice: []specs.LinuxWeightDevice{{Weight: u16(2000)}}}}, "linux.resources.blockIO.weightDevice[0].weight"},
		{"blkio throttle device", &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: -1}}}}}, "linux.resources.blockIO.throttleReadBpsDevice[0]"},
		{"hugepage size", &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2M"}}}, `linux.resources.hugepageLimits[0].pageSize: invalid page size "2M"`},
		{"hugepage size ok", &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "64KB"}, {Pagesize: "1GB"}}}, ""},
		{"device type", &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Type: "p"}}}, `linux.resources.devices[0].type: "p" is not one of a, b, c`},
		{"device access", &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{}, {Type: "c", Access: "rx"}}}, `linux.resources.devices[1].access: "rx" is not a subset of rwm`},
		{"device major", &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Type: "c", Major: i64(-3)}}}, "linux.resources.devices[0].major"},
		{"unified path", &specs.LinuxResources{Unified: map[string]string{"../memory.max": "1"}}, "linux.resources.unified"},
		{"unified procs", &specs.LinuxResources{Unified: map[string]string{"cgroup.procs": "1"}}, "linux.resources.unified"},
		{"unified ok", &specs.LinuxResources{Unified: map[string]string{"memory.high": "1G"}}, ""},
	}
	for _, tt := range tests {
		err := Validate(tt.r)
		if tt.err == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.err) || !errdefs.IsInvalidArgument(err) {
			t.Errorf("%s: got %v, want InvalidArgument containing %q", tt.name, err, tt.err)
		}
	}
}
