//go:build !berthinit

package oci

import (
	_ "embed"
	"encoding/json"
	"time"

	"github.com/berth-dev/berth/internal/linux/seccomp"
)

// warmConfig is a container's config.json as berthd writes it (docker run
// with limits, the default seccomp profile), with a placeholder ID.
//
//go:embed warm.json
var warmConfig []byte

// Warm does ahead of time the work that only a process's first create
// pays, for a runtime linked into a process that waits for a container
// (a spare berth-shim-rt): the JSON codecs of the spec and of the state
// (a first decode of a config builds them by reflection, ~0.5 ms of the
// ~0.6 ms it takes), the validation's and the seccomp compiler's one-time
// set-up and syscall lookups. Nothing is created; errors are of no
// interest.
func Warm() {
	spec, err := parseSpec(warmConfig, "warm")
	if err != nil {
		return
	}
	var ff forkFields
	_ = json.Unmarshal(warmConfig, &ff)
	_ = ValidateSpec(spec, "/nonexistent", false)
	_, _ = planNamespaces(spec.Linux.Namespaces)
	if spec.Linux.Seccomp != nil {
		seccomp.Warm(spec.Linux.Seccomp)
	}
	_, _ = json.Marshal(spec)
	_, _ = json.Marshal(&Record{ID: "warm", Created: time.Now(), CgroupPaths: map[string]string{"": ""}, Annotations: spec.Annotations})
}
