//go:build !berthinit

package oci

import (
	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/linux/cgroups"
	"github.com/berth-dev/berth/internal/linux/procattr"
	"github.com/berth-dev/berth/internal/linux/seccomp"
)

// validateExtra asks the kernel-facing packages to check their parts.
func validateExtra(spec *specs.Spec) error {
	if err := seccomp.Validate(spec.Linux.Seccomp); err != nil {
		return err
	}
	if err := procattr.Validate(spec.Process, spec.Linux); err != nil {
		return err
	}
	if len(spec.Linux.NetDevices) > 0 {
		return errdefs.NotImplemented("linux.netDevices: moving host network devices into a container is not supported")
	}
	return cgroups.Validate(spec.Linux.Resources)
}
