//go:build !berthinit

package oci

import (
	"encoding/json"
	"log/slog"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/linux/caps"
)

// runHooksWarn is for poststart and poststop, whose failures the spec says
// must only be logged.
func runHooksWarn(kind string, hooks []specs.Hook, state []byte) {
	for i, h := range hooks {
		if err := runHook(h, state); err != nil {
			slog.Warn("hook failed", "kind", kind, "index", i, "path", h.Path, "err", err)
		}
	}
}

func stateJSON(st *State) []byte {
	b, _ := json.Marshal(st.State)
	return b
}

// availableCaps drops capabilities the runtime does not hold itself (the
// capset would fail), with a warning for each.
func availableCaps(c *specs.LinuxCapabilities) *specs.LinuxCapabilities {
	kept, dropped := caps.Available(c)
	for _, d := range dropped {
		slog.Warn("capability not held by the runtime, not granted", "capability", d)
	}
	return kept
}
