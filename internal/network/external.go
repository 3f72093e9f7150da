package network

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/containernetworking/cni/libcni"

	"github.com/berth-dev/berth/internal/errdefs"
)

// LoadConfDir returns the network configuration a kubelet deployment put
// in dir (e.g. /etc/cni/net.d): the first .conflist, .conf or .json file
// by name, as a configuration list.
func LoadConfDir(dir string) ([]byte, error) {
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		switch filepath.Ext(e.Name()) {
		case ".conflist", ".conf", ".json":
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for _, name := range names {
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		if strings.HasSuffix(name, ".conflist") {
			if _, err := libcni.ConfListFromBytes(raw); err == nil {
				return raw, nil
			}
			continue
		}
		conf, err := libcni.ConfFromBytes(raw)
		if err != nil {
			continue
		}
		list, err := libcni.ConfListFromConf(conf)
		if err != nil {
			continue
		}
		return list.Bytes, nil
	}
	return nil, errdefs.Unavailable("no CNI network configuration in %s", dir)
}

// SetupExternal gives id a pinned network namespace and an eth0 endpoint
// on a network configured outside berth (conflist as LoadConfDir returns
// it), with its host ports reserved as on berth's networks. On error
// nothing is left.
func (m *Manager) SetupExternal(ctx context.Context, id string, conflist []byte, ports []PortMapping, opts ...Option) (a Attachment, bound []PortMapping, err error) {
	list, err := libcni.ConfListFromBytes(conflist)
	if err != nil {
		return Attachment{}, nil, errdefs.InvalidArgument("CNI configuration: %v", err)
	}
	m.waitPending(id)
	if bound, err = m.ports.reserve(id, ports); err != nil {
		return Attachment{}, nil, err
	}
	ns := m.NetNSPath(id)
	if err := m.makeNetNS(id, opts); err != nil {
		RemoveNetNS(ns)
		m.ports.release(id)
		return Attachment{}, nil, err
	}
	rt := m.rtConf(id, "eth0", Request{}, bound)
	res, err := m.cni.AddNetworkList(ctx, list, rt)
	if err == nil {
		a = Attachment{Network: "cni:" + list.Name, IfName: "eth0", EndpointID: newID()}
		err = a.fill(res)
	}
	if err != nil {
		m.cni.DelNetworkList(context.WithoutCancel(ctx), list, rt)
		RemoveNetNS(ns)
		m.ports.release(id)
		return Attachment{}, nil, fmt.Errorf("network %s: %s", list.Name, cniMessage(err))
	}
	return a, bound, nil
}

// TeardownExternal undoes SetupExternal; it goes on past errors.
func (m *Manager) TeardownExternal(ctx context.Context, id string, conflist []byte, ports []PortMapping) error {
	var first error
	if list, err := libcni.ConfListFromBytes(conflist); err == nil {
		rt := m.rtConf(id, "eth0", Request{}, ports)
		if _, err := os.Stat(rt.NetNS); err != nil {
			rt.NetNS = ""
		}
		if err := m.cni.DelNetworkList(ctx, list, rt); err != nil {
			first = fmt.Errorf("network %s: %s", list.Name, cniMessage(err))
		}
	}
	m.ports.release(id)
	if err := RemoveNetNS(m.NetNSPath(id)); err != nil && first == nil {
		first = err
	}
	return first
}
