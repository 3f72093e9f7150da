package oci

import (
	"encoding/json"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/linux/rootfs"
)

// The parent (create, exec) and the re-executed init talk over a socket
// pair: the parent sends one initConfig, the child answers with syncMsgs.

// EnvInitFD names the child's end of the socket pair.
const EnvInitFD = "_BERTH_INIT"

type initConfig struct {
	Exec        bool               `json:"exec,omitempty"` // joining a running container
	Spec        *specs.Spec        `json:"spec"`
	Process     *specs.Process     `json:"process"`
	Rootfs      string             `json:"rootfs,omitempty"`
	Bundle      string             `json:"bundle,omitempty"`
	NoPivot     bool               `json:"no_pivot,omitempty"`
	Cgroups     []rootfs.CgroupDir `json:"cgroups,omitempty"`
	CgroupV2    bool               `json:"cgroup_v2,omitempty"`
	NewCgroupNS bool               `json:"new_cgroup_ns,omitempty"`
	NewUserNS   bool               `json:"new_user_ns,omitempty"`
	NewNetNS    bool               `json:"new_net_ns,omitempty"`
	NewUTSNS    bool               `json:"new_uts_ns,omitempty"`
	// Child fds (-1 when absent).
	FifoFD      int `json:"fifo_fd"` // O_PATH fd of the state dir holding exec.fifo
	ConsoleFD   int `json:"console_fd"`
	SeccompFD   int `json:"seccomp_fd"` // where to send a seccomp notify fd
	PreserveFDs int `json:"preserve_fds"`
	// SyncHooks: stop before pivot_root so the parent can run prestart and
	// createRuntime hooks.
	SyncHooks bool `json:"sync_hooks,omitempty"`
	// Seccomp is the compiled filter (seccomp.Filter.MarshalBinary): built
	// by the parent, which may cache it, so the child only installs it.
	Seccomp []byte `json:"seccomp,omitempty"`
	// NoMountNS: the container shares the host's mount namespace, so the
	// rootfs is only chroot'ed into, never mounted on.
	NoMountNS bool `json:"no_mount_ns,omitempty"`
	// State is the container state JSON given to hooks run by the child.
	State json.RawMessage `json:"state,omitempty"`
}

const (
	msgCgroupReady = "cgroup-ready" // parent → child: your cgroup directories exist
	msgPlaced      = "placed"       // parent → child: you are in your cgroup; go on
	msgHooks       = "hooks"        // child → parent: run prestart/createRuntime now
	msgResume      = "resume"       // parent → child: hooks done
	msgReady       = "ready"        // child → parent: waiting on the exec fifo (or about to exec)
	msgError       = "error"        // child → parent: setup failed
)

type syncMsg struct {
	Type  string `json:"type"`
	Error string `json:"error,omitempty"`
	// HookFailed: the error is a failed createContainer hook.
	HookFailed bool `json:"hook_failed,omitempty"`
}
