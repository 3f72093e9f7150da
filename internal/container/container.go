// Package container is berthd's container service: container records and
// their lifecycle (create, start, stop, kill, wait, remove), each running
// container supervised by its own berth-shim, and recovery of live and
// finished containers after a daemon restart.
package container

import (
	nettypes "github.com/moby/moby/api/types/network"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/metadata"
)

// Status values, as Docker reports them.
const (
	StatusCreated    = "created"
	StatusRunning    = "running"
	StatusPaused     = "paused"
	StatusRestarting = "restarting"
	StatusRemoving   = "removing"
	StatusExited     = "exited"
	StatusDead       = "dead"
)

// State is a container's process state.
type State struct {
	Status     string    `json:"status"`
	Pid        int       `json:"pid,omitempty"`
	ExitCode   int       `json:"exitCode"`
	OOMKilled  bool      `json:"oomKilled,omitempty"`
	Error      string    `json:"error,omitempty"`
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt"`
	// StoppedByUser is set by stop/kill so restart policies leave the
	// container alone (and unless-stopped survives a daemon restart).
	StoppedByUser bool `json:"stoppedByUser,omitempty"`
	// User is the process's user as started (ids resolved, groups
	// added), which status calls report.
	User *specs.User `json:"user,omitempty"`
}

// Running reports whether the container has a live process.
func (s State) Running() bool { return s.Status == StatusRunning || s.Status == StatusPaused }

// Container is the record of one container: what was asked for (Docker's
// Config and HostConfig, kept as the API sent them) and where it stands.
type Container struct {
	ID         string                `json:"id"`
	Name       string                `json:"name"`     // without the leading "/"
	Image      string                `json:"image"`    // image ID
	ImageRef   string                `json:"imageRef"` // as the user wrote it
	Created    time.Time             `json:"created"`
	Config     *container.Config     `json:"config"`
	HostConfig *container.HostConfig `json:"hostConfig"`
	State      State                 `json:"state"`

	Path         string   `json:"path"` // the process, as generated
	Args         []string `json:"args"`
	Runtime      string   `json:"runtime"`
	RestartCount int      `json:"restartCount"`
	ExecIDs      []string `json:"execIDs,omitempty"`
	// Mounts are the binds and volumes, resolved at create.
	Mounts []Mount `json:"mounts,omitempty"`
	// Endpoints are the networks asked for, by network name (Docker's
	// EndpointsConfig, with the network IDs resolved at create).
	Endpoints map[string]*nettypes.EndpointSettings `json:"endpoints,omitempty"`
	// Net is the started container's networking (nil when stopped).
	Net *NetState `json:"net,omitempty"`
	// Pod places the container in a CRI pod sandbox's namespaces.
	Pod *Pod `json:"pod,omitempty"`
	// CRILogPath, if set, is where the container's log goes, in the CRI
	// format (the kubelet chooses it), instead of the json-file log.
	CRILogPath string `json:"criLogPath,omitempty"`
}

// Pod is a CRI pod sandbox as its containers join it: pinned namespaces
// ("" for the node's) and the pod's hostname, hosts and resolv.conf files.
type Pod struct {
	SandboxID string `json:"sandboxID"`
	NetNS     string `json:"netns,omitempty"`
	IPC       string `json:"ipc,omitempty"`
	UTS       string `json:"uts,omitempty"`
	PID       string `json:"pid,omitempty"` // the pod's shared PID namespace, if any
	Files     string `json:"files"`
	// StrictGroups: SupplementalGroupsPolicy Strict (no /etc/group
	// memberships of the image's user).
	StrictGroups bool `json:"strictGroups,omitempty"`
	// UserNS is the pod's user namespace, if it has one of its own, and
	// UIDMap and GIDMap its maps. The rootfs is then an idmapped mount, so
	// the image's files belong to the pod's root.
	UserNS string                 `json:"userns,omitempty"`
	UIDMap []specs.LinuxIDMapping `json:"uidMap,omitempty"`
	GIDMap []specs.LinuxIDMapping `json:"gidMap,omitempty"`
}

// Mount is one bind or volume of a container.
type Mount struct {
	Type        string   `json:"type"` // bind, volume, tmpfs
	Name        string   `json:"name,omitempty"`
	Source      string   `json:"source"`
	Destination string   `json:"destination"`
	ReadOnly    bool     `json:"readOnly,omitempty"`
	Propagation string   `json:"propagation,omitempty"`
	Options     []string `json:"options,omitempty"`
	NoCopy      bool     `json:"noCopy,omitempty"`
	Anonymous   bool     `json:"anonymous,omitempty"`
}

var (
	containersTable = metadata.NewTable[Container]("containers", "container")
	namesTable      = metadata.NewTable[string]("container-names", "container name")
)
