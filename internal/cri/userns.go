package cri

import (
	"path/filepath"

	"github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/nspin"
)

// userPath is where a pod's user namespace is pinned.
func (s *Server) userPath(id string) string { return filepath.Join(s.sandboxDir(id), "user") }

// podUserNS reads a pod's user namespace options: nil maps for the node's
// namespace (the default), one uid and one gid range for a namespace of
// the pod's own (NamespaceMode_POD), as the kubelet sends them. The other
// modes have no meaning for a pod.
func podUserNS(o *runtimeapi.UserNamespace) (uids, gids []nspin.IDMap, err error) {
	if o == nil {
		return nil, nil, nil // (POD is the enum's zero value: no options is NODE)
	}
	switch o.GetMode() {
	case runtimeapi.NamespaceMode_NODE:
		if len(o.GetUids()) > 0 || len(o.GetGids()) > 0 {
			return nil, nil, errdefs.InvalidArgument("user namespace mode NODE takes no uid or gid mappings")
		}
		return nil, nil, nil
	case runtimeapi.NamespaceMode_POD:
	default:
		return nil, nil, errdefs.InvalidArgument("user namespace mode %s is not supported for a pod (NODE or POD)", o.GetMode())
	}
	if uids, err = idMaps("uid", o.GetUids()); err != nil {
		return nil, nil, err
	}
	if gids, err = idMaps("gid", o.GetGids()); err != nil {
		return nil, nil, err
	}
	return uids, gids, nil
}

func idMaps(what string, ms []*runtimeapi.IDMapping) ([]nspin.IDMap, error) {
	if len(ms) != 1 {
		return nil, errdefs.InvalidArgument("user namespace: need exactly one %s mapping, got %d", what, len(ms))
	}
	m := ms[0]
	switch {
	case m.ContainerId != 0:
		return nil, errdefs.InvalidArgument("user namespace: the %s mapping must start at container id 0, not %d", what, m.ContainerId)
	case m.Length == 0:
		return nil, errdefs.InvalidArgument("user namespace: the %s mapping has length 0", what)
	case uint64(m.HostId)+uint64(m.Length) > 1<<32-1:
		return nil, errdefs.InvalidArgument("user namespace: the %s mapping %d+%d runs past the id range", what, m.HostId, m.Length)
	case m.HostId == 0:
		// The host's root would be the pod's: no isolation at all.
		return nil, errdefs.InvalidArgument("user namespace: the %s mapping must not map the host's id 0", what)
	}
	return []nspin.IDMap{{ContainerID: 0, HostID: m.HostId, Size: m.Length}}, nil
}

// sameUserNS checks that a container asks for its pod's user namespace
// (or says nothing): its containers cannot have another.
func sameUserNS(sb *sandbox, o *runtimeapi.UserNamespace) error {
	if o == nil {
		return nil
	}
	switch {
	case sb.UserNS == nil && o.GetMode() != runtimeapi.NamespaceMode_NODE:
		return errdefs.InvalidArgument("container asks for user namespace mode %s in a pod on the node's user namespace", o.GetMode())
	case sb.UserNS != nil && o.GetMode() != runtimeapi.NamespaceMode_POD:
		return errdefs.InvalidArgument("container asks for user namespace mode %s in a pod with its own user namespace", o.GetMode())
	case sb.UserNS != nil && len(o.GetUids()) > 0:
		uids, gids, err := podUserNS(o)
		if err != nil {
			return err
		}
		if uids[0] != sb.UserNS.UIDs[0] || gids[0] != sb.UserNS.GIDs[0] {
			return errdefs.InvalidArgument("container's user namespace mappings differ from its pod's")
		}
	}
	return nil
}

func specMaps(m []nspin.IDMap) []specs.LinuxIDMapping {
	out := make([]specs.LinuxIDMapping, len(m))
	for i, x := range m {
		out[i] = specs.LinuxIDMapping{ContainerID: x.ContainerID, HostID: x.HostID, Size: x.Size}
	}
	return out
}
