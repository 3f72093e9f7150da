package oci

import (
	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/linux/cgroups"
	"github.com/berth-dev/berth/internal/linux/seccomp"
)

// validateExtra asks the kernel-facing packages to check their parts.
func validateExtra(spec *specs.Spec) error {
	if err := seccomp.Validate(spec.Linux.Seccomp); err != nil {
		return err
	}
	return cgroups.Validate(spec.Linux.Resources)
}
