//go:build !berthinit

package oci

import (
	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/linux/rootfs"
)

// deviceRules returns the cgroup device list to apply: the spec's rules,
// then allow rules for the nodes the runtime itself creates (the default
// devices, the pty multiplexer and ptys, and linux.devices), as a deny-all
// spec would otherwise stop us making them. Allowing a node we create does
// not widen the container's reach: it was granted the node itself.
func deviceRules(spec *specs.Spec) []specs.LinuxDeviceCgroup {
	r := spec.Linux.Resources
	if r == nil || len(r.Devices) == 0 {
		return nil
	}
	rules := append([]specs.LinuxDeviceCgroup(nil), r.Devices...)
	allow := func(typ string, major, minor int64) {
		rules = append(rules, specs.LinuxDeviceCgroup{Allow: true, Type: typ, Major: &major, Minor: &minor, Access: "rwm"})
	}
	for _, d := range rootfs.DefaultDevices {
		allow(d.Type, d.Major, d.Minor)
	}
	allow("c", 5, 1)    // /dev/console
	allow("c", 5, 2)    // /dev/ptmx
	allow("c", 136, -1) // /dev/pts/*
	for _, d := range spec.Linux.Devices {
		typ := d.Type
		if typ == "u" {
			typ = "c"
		}
		if typ == "p" {
			continue
		}
		allow(typ, d.Major, d.Minor)
	}
	return rules
}
