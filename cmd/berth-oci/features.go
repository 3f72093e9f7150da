package main

import (
	"encoding/json"
	"os"
	"sort"

	"github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"

	"github.com/berth-dev/berth/internal/linux/caps"
	"github.com/berth-dev/berth/internal/linux/rootfs"
	"github.com/berth-dev/berth/internal/linux/seccomp"
)

func featuresCmd(g *globals) *command {
	c := newCommand("features", "", "print what this runtime implements (OCI features JSON)", 0, 0)
	c.run = func(args []string) error {
		yes, no := true, false
		opts := rootfs.KnownOptions()
		sort.Strings(opts)
		f := features.Features{
			OCIVersionMin: "1.0.0",
			OCIVersionMax: specs.Version,
			Hooks:         []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"},
			MountOptions:  opts,
			Linux: &features.Linux{
				Namespaces:   []string{"cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"},
				Capabilities: caps.Names(),
				Cgroup:       &features.Cgroup{V1: &yes, V2: &yes, Systemd: &no, SystemdUser: &no, Rdma: &yes},
				Seccomp:      seccomp.Features(),
				Apparmor:     &features.Apparmor{Enabled: &no},
				Selinux:      &features.Selinux{Enabled: &no},
				IntelRdt:     &features.IntelRdt{Enabled: &no},
				MountExtensions: &features.MountExtensions{
					IDMap: &features.IDMap{Enabled: &no},
				},
			},
			Annotations: map[string]string{"org.opencontainers.runtime-spec.features.runtime": "berth-oci " + version},
		}
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "    ")
		return enc.Encode(f)
	}
	return c
}
