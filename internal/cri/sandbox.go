package cri

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/metadata"
	"github.com/berth-dev/berth/internal/network"
	"github.com/berth-dev/berth/internal/nspin"
)

// sandbox is a pod sandbox's record. Its network, IPC and UTS namespaces
// are pinned files under the sandbox's state directory (network: under
// the network manager's), so no infra process holds them.
type sandbox struct {
	ID             string    `json:"id"`
	Name           string    `json:"name"`   // reserved: name_namespace_uid_attempt
	Config         []byte    `json:"config"` // protojson PodSandboxConfig
	RuntimeHandler string    `json:"runtimeHandler,omitempty"`
	Ready          bool      `json:"ready"`
	CreatedAt      time.Time `json:"createdAt"`
	// HostNetwork: the pod uses the node's network namespace.
	HostNetwork bool                  `json:"hostNetwork,omitempty"`
	Attachments []network.Attachment  `json:"attachments,omitempty"`
	Ports       []network.PortMapping `json:"ports,omitempty"`
	IPs         []string              `json:"ips,omitempty"` // kept after stop, as the CRI reports them
	// CNIConf is the configuration list of an outside network (CNIConfDir)
	// the pod joined; its DEL needs it.
	CNIConf []byte `json:"cniConf,omitempty"`
	// PausePid is the first process of the pod's shared PID namespace
	// (berth-shim pause), when the pod asks for one.
	PausePid int `json:"pausePid,omitempty"`
	// UserNS: the pod has a user namespace of its own, pinned at
	// userPath, with these maps.
	UserNS *userNS `json:"userNS,omitempty"`
}

type userNS struct {
	UIDs []nspin.IDMap `json:"uids"`
	GIDs []nspin.IDMap `json:"gids"`
}

var (
	sandboxes     = metadata.NewTable[sandbox]("cri-sandboxes", "pod sandbox")
	sandboxNames  = metadata.NewTable[string]("cri-sandbox-names", "pod sandbox name")
	sandboxIDSize = 64
)

func newSandboxID() string {
	b := make([]byte, sandboxIDSize/2)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (sb *sandbox) config() (*runtimeapi.PodSandboxConfig, error) {
	var c runtimeapi.PodSandboxConfig
	if err := protojson.Unmarshal(sb.Config, &c); err != nil {
		return nil, fmt.Errorf("pod sandbox %s: config: %w", sb.ID, err)
	}
	return &c, nil
}

// sandboxName is the name a pod's sandbox reserves, as the kubelet's
// (name, namespace, uid, attempt) are unique.
func sandboxName(md *runtimeapi.PodSandboxMetadata) string {
	return strings.Join([]string{md.Name, md.Namespace, md.Uid, fmt.Sprint(md.Attempt)}, "_")
}

// Paths of a sandbox's state.
func (s *Server) sandboxDir(id string) string { return filepath.Join(s.State, "sandboxes", id) }
func (s *Server) ipcPath(id string) string    { return filepath.Join(s.sandboxDir(id), "ipc") }
func (s *Server) utsPath(id string) string    { return filepath.Join(s.sandboxDir(id), "uts") }

// getSandbox finds a sandbox by full ID or unique prefix.
func (s *Server) getSandbox(term string) (sandbox, error) {
	if term == "" {
		return sandbox{}, errdefs.InvalidArgument("pod sandbox ID is empty")
	}
	var found []sandbox
	err := s.Meta.View(func(tx *metadata.Tx) error {
		if sb, err := sandboxes.Get(tx, term); err == nil {
			found = []sandbox{sb}
			return nil
		}
		return sandboxes.Each(tx, func(id string, sb sandbox) error {
			if strings.HasPrefix(id, term) {
				found = append(found, sb)
			}
			return nil
		})
	})
	if err != nil {
		return sandbox{}, err
	}
	switch len(found) {
	case 0:
		return sandbox{}, errdefs.NotFound("pod sandbox %s not found", term)
	case 1:
		return found[0], nil
	}
	return sandbox{}, errdefs.InvalidArgument("pod sandbox ID %s is ambiguous", term)
}

func (s *Server) listSandboxes() ([]sandbox, error) {
	var out []sandbox
	err := s.Meta.View(func(tx *metadata.Tx) error {
		return sandboxes.Each(tx, func(_ string, sb sandbox) error {
			out = append(out, sb)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, err
}

func (s *Server) putSandbox(sb sandbox) error {
	return s.Meta.Update(func(tx *metadata.Tx) error { return sandboxes.Put(tx, sb.ID, sb) })
}

func stateOf(sb *sandbox) runtimeapi.PodSandboxState {
	if sb.Ready {
		return runtimeapi.PodSandboxState_SANDBOX_READY
	}
	return runtimeapi.PodSandboxState_SANDBOX_NOTREADY
}

// SandboxIDs lists every sandbox's ID (their network namespaces are not
// containers' leftovers).
func (s *Server) SandboxIDs() []string {
	list, _ := s.listSandboxes()
	var ids []string
	for _, sb := range list {
		ids = append(ids, sb.ID)
	}
	return ids
}

// Recover runs at daemon start: ready sandboxes get their host ports
// reserved again.
func (s *Server) Recover() {
	list, err := s.listSandboxes()
	if err != nil || s.Networks == nil {
		return
	}
	for _, sb := range list {
		if sb.Ready && !sb.HostNetwork {
			s.Networks.Restore(sb.ID, sb.Attachments, sb.Ports)
		}
	}
}
