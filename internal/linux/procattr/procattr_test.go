package procattr

import (
	"reflect"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
)

func TestParseCPUList(t *testing.T) {
	tests := []struct {
		in   string
		want []int
		ok   bool
	}{
		{"0", []int{0}, true},
		{"0-2,5", []int{0, 1, 2, 5}, true},
		{" 1 , 3-4", []int{1, 3, 4}, true},
		{"3-1", nil, false},
		{"x", nil, false},
		{"", nil, false},
		{"-1", nil, false},
		{"9000", nil, false},
	}
	for _, tc := range tests {
		got, err := ParseCPUList(tc.in)
		if (err == nil) != tc.ok || (tc.ok && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("ParseCPUList(%q) = %v, %v", tc.in, got, err)
		}
	}
}

func TestValidateNamesField(t *testing.T) {
	tests := []struct {
		p     *specs.Process
		l     *specs.Linux
		field string
	}{
		{&specs.Process{Scheduler: &specs.Scheduler{Policy: "SCHED_NOPE"}}, nil, "process.scheduler.policy"},
		{&specs.Process{Scheduler: &specs.Scheduler{Policy: specs.SchedOther, Nice: 40}}, nil, "process.scheduler.nice"},
		{&specs.Process{IOPriority: &specs.LinuxIOPriority{Class: "X"}}, nil, "process.ioPriority.class"},
		{&specs.Process{IOPriority: &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 9}}, nil, "process.ioPriority.priority"},
		{&specs.Process{ExecCPUAffinity: &specs.CPUAffinity{Final: "a-b"}}, nil, "process.execCPUAffinity.final"},
		{nil, &specs.Linux{Personality: &specs.LinuxPersonality{Domain: "WIN"}}, "linux.personality.domain"},
		{nil, &specs.Linux{MemoryPolicy: &specs.LinuxMemoryPolicy{Mode: "MPOL_X"}}, "linux.memoryPolicy.mode"},
	}
	for _, tc := range tests {
		err := Validate(tc.p, tc.l)
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("want error naming %s, got %v", tc.field, err)
		}
	}
	ok := &specs.Process{
		Scheduler:       &specs.Scheduler{Policy: specs.SchedBatch, Nice: 5},
		IOPriority:      &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_IDLE},
		ExecCPUAffinity: &specs.CPUAffinity{Initial: "0", Final: "0-1"},
	}
	if err := Validate(ok, &specs.Linux{Personality: &specs.LinuxPersonality{Domain: specs.PerLinux}}); err != nil {
		t.Fatal(err)
	}
}
