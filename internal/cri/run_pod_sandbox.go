package cri

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/encoding/protojson"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/metadata"
	"github.com/berth-dev/berth/internal/network"
	"github.com/berth-dev/berth/internal/nspin"
)

// RunPodSandbox creates a pod's shared namespaces: UTS (with the pod's
// hostname) and IPC pinned under the sandbox's directory, and the network
// namespace with its CNI endpoint and host ports, unless the pod uses the
// node's network. A failure leaves nothing behind.
func (s *Server) RunPodSandbox(ctx context.Context, req *runtimeapi.RunPodSandboxRequest) (resp *runtimeapi.RunPodSandboxResponse, err error) {
	cfg := req.GetConfig()
	md := cfg.GetMetadata()
	if md == nil || md.Name == "" || md.Namespace == "" || md.Uid == "" {
		return nil, errdefs.InvalidArgument("pod sandbox metadata needs a name, a namespace and a uid")
	}
	if cfg.Windows != nil {
		return nil, errdefs.InvalidArgument("Windows pod sandboxes are not supported")
	}
	if h := req.GetRuntimeHandler(); h != "" && h != "berth-oci" && h != "runc" && h != "crun" {
		return nil, errdefs.NotFound("runtime handler %q not found", h)
	}
	nsOpts := cfg.GetLinux().GetSecurityContext().GetNamespaceOptions()
	// Without options the defaults apply (shared network and IPC, a PID
	// namespace per container); POD is the zero value of the enum.
	sharedPID := nsOpts != nil && nsOpts.GetPid() == runtimeapi.NamespaceMode_POD
	uids, gids, err := podUserNS(nsOpts.GetUsernsOptions())
	if err != nil {
		return nil, err
	}
	if uids != nil {
		// As the kubelet requires: the node's namespaces are the host
		// user namespace's, and a pod's own PID namespace would be too
		// (its first process is started from here).
		if nsOpts.GetNetwork() == runtimeapi.NamespaceMode_NODE || nsOpts.GetIpc() == runtimeapi.NamespaceMode_NODE ||
			nsOpts.GetPid() == runtimeapi.NamespaceMode_NODE {
			return nil, errdefs.InvalidArgument("a pod with its own user namespace cannot use the node's network, IPC or PID namespace")
		}
	}
	raw, err := protojson.Marshal(cfg)
	if err != nil {
		return nil, errdefs.InvalidArgument("pod sandbox config: %v", err)
	}
	sb := sandbox{ID: newSandboxID(), Name: sandboxName(md), Config: raw, RuntimeHandler: req.GetRuntimeHandler(),
		CreatedAt: time.Now().UTC(), HostNetwork: nsOpts.GetNetwork() == runtimeapi.NamespaceMode_NODE}
	// Reserve the name first: the kubelet may retry a slow RunPodSandbox.
	err = s.Meta.Update(func(tx *metadata.Tx) error {
		if other, err := sandboxNames.Get(tx, sb.Name); err == nil {
			return errdefs.AlreadyExists("pod sandbox name %q is reserved by %s", sb.Name, other)
		}
		return sandboxNames.Put(tx, sb.Name, sb.ID)
	})
	if err != nil {
		return nil, err
	}
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	undo = append(undo, func() {
		s.Meta.Update(func(tx *metadata.Tx) error { return sandboxNames.Delete(tx, sb.Name) })
	})
	dir := s.sandboxDir(sb.ID)
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return nil, err
	}
	undo = append(undo, func() { os.RemoveAll(dir) })
	// The kubelet names the pod's host; without a name the pod has the
	// node's, as in containerd.
	hostname := cfg.GetHostname()
	if hostname == "" {
		hostname, _ = os.Hostname()
	}
	setHostname := func() error {
		if err := unix.Sethostname([]byte(hostname)); err != nil {
			return errdefs.InvalidArgument("hostname %q: %v", hostname, err)
		}
		return nil
	}
	var netOpts []network.Option
	if uids != nil {
		if s.Networks == nil {
			return nil, errdefs.Unavailable("networking is disabled")
		}
		if err := s.pinUserNS(&sb, uids, gids, sharedPID); err != nil {
			return nil, err
		}
		undo = append(undo, func() {
			stopPause(sb.PausePid)
			for _, p := range []string{s.utsPath(sb.ID), s.ipcPath(sb.ID), s.Networks.NetNSPath(sb.ID), s.userPath(sb.ID)} {
				nspin.Unpin(p)
			}
		})
		if err := nspin.Enter(nspin.UTS, s.utsPath(sb.ID), setHostname); err != nil {
			return nil, err
		}
		netOpts = append(netOpts, network.PremadeNetNS())
	} else if !sb.HostNetwork {
		// A pod on the node's network has the node's hostname too.
		if err := nspin.Pin(nspin.UTS, s.utsPath(sb.ID), setHostname); err != nil {
			return nil, err
		}
		undo = append(undo, func() { nspin.Unpin(s.utsPath(sb.ID)) })
	}
	if nsOpts.GetIpc() != runtimeapi.NamespaceMode_NODE && uids == nil {
		if err := nspin.Pin(nspin.IPC, s.ipcPath(sb.ID), nil); err != nil {
			return nil, err
		}
		undo = append(undo, func() { nspin.Unpin(s.ipcPath(sb.ID)) })
	}
	if !sb.HostNetwork {
		if s.Networks == nil {
			return nil, errdefs.Unavailable("networking is disabled")
		}
		ports, err := portMappings(cfg.GetPortMappings())
		if err != nil {
			return nil, err
		}
		var atts []network.Attachment
		var bound []network.PortMapping
		if s.CNIConfDir != "" {
			conf, err := network.LoadConfDir(s.CNIConfDir)
			if err != nil {
				return nil, err
			}
			a, b, err := s.Networks.SetupExternal(ctx, sb.ID, conf, ports, netOpts...)
			if err != nil {
				return nil, err
			}
			atts, bound, sb.CNIConf = []network.Attachment{a}, b, conf
		} else {
			n, err := s.Networks.Get(s.network())
			if err != nil {
				return nil, fmt.Errorf("pod network: %w", err)
			}
			if atts, bound, err = s.Networks.Setup(ctx, sb.ID, []network.Endpoint{{Network: n, Request: network.Request{Names: []string{md.Name}}}}, ports, netOpts...); err != nil {
				return nil, err
			}
		}
		sb.Attachments, sb.Ports = atts, bound
		for _, a := range atts {
			for _, ip := range a.IPs {
				sb.IPs = append(sb.IPs, ip.Addr().String())
			}
		}
		undo = append(undo, func() { s.teardownPodNetwork(context.WithoutCancel(ctx), &sb, atts, bound) })
	}
	if err := s.writeSandboxFiles(&sb, cfg, hostname); err != nil {
		return nil, err
	}
	if sharedPID && sb.PausePid == 0 {
		pid, err := s.startPause()
		if err != nil {
			return nil, err
		}
		sb.PausePid = pid
		undo = append(undo, func() { stopPause(pid) })
	}
	sb.Ready = true
	if err := s.putSandbox(sb); err != nil {
		return nil, err
	}
	s.prewarm(ctx, sb.ID, "")
	return &runtimeapi.RunPodSandboxResponse{PodSandboxId: sb.ID}, nil
}

// pinUserNS makes the pod's user namespace and, owned by it, its UTS, IPC
// and network namespaces (the last where the network manager keeps it),
// and its shared PID namespace if it wants one, whose first process
// (the pause) made them all.
func (s *Server) pinUserNS(sb *sandbox, uids, gids []nspin.IDMap, sharedPID bool) error {
	pid, err := nspin.PinWithUser([]string{s.pauseBinary(), "pause"}, map[nspin.Kind]string{
		nspin.User: s.userPath(sb.ID), nspin.UTS: s.utsPath(sb.ID), nspin.IPC: s.ipcPath(sb.ID),
		nspin.Net: s.Networks.NetNSPath(sb.ID),
	}, uids, gids, sharedPID)
	if err != nil {
		return fmt.Errorf("pod user namespace: %w", err)
	}
	sb.UserNS, sb.PausePid = &userNS{UIDs: uids, GIDs: gids}, pid
	return nil
}

// network is the berth network pods join.
func (s *Server) network() string {
	if s.Network != "" {
		return s.Network
	}
	return network.DefaultName
}

// portMappings are a pod's host ports.
func portMappings(pms []*runtimeapi.PortMapping) ([]network.PortMapping, error) {
	var out []network.PortMapping
	for _, pm := range pms {
		if pm.HostPort <= 0 {
			continue // not published
		}
		if pm.ContainerPort <= 0 || pm.ContainerPort > 65535 || pm.HostPort > 65535 {
			return nil, errdefs.InvalidArgument("invalid port mapping %d:%d", pm.HostPort, pm.ContainerPort)
		}
		out = append(out, network.PortMapping{HostIP: pm.HostIp, HostPort: int(pm.HostPort), ContainerPort: int(pm.ContainerPort),
			Protocol: strings.ToLower(pm.Protocol.String())})
	}
	return out, nil
}

// writeSandboxFiles writes the pod's hostname, hosts and resolv.conf,
// which its containers bind-mount.
func (s *Server) writeSandboxFiles(sb *sandbox, cfg *runtimeapi.PodSandboxConfig, hostname string) error {
	dir := s.sandboxDir(sb.ID)
	if sb.HostNetwork {
		if h, err := os.Hostname(); err == nil && hostname == "" {
			hostname = h
		}
	}
	resolv := []byte{}
	if dns := cfg.GetDnsConfig(); dns != nil && (len(dns.Servers) > 0 || len(dns.Searches) > 0 || len(dns.Options) > 0) {
		var b strings.Builder
		for _, srv := range dns.Servers {
			fmt.Fprintf(&b, "nameserver %s\n", srv)
		}
		if len(dns.Searches) > 0 {
			fmt.Fprintf(&b, "search %s\n", strings.Join(dns.Searches, " "))
		}
		if len(dns.Options) > 0 {
			fmt.Fprintf(&b, "options %s\n", strings.Join(dns.Options, " "))
		}
		resolv = []byte(b.String())
	} else if host, err := os.ReadFile("/etc/resolv.conf"); err == nil {
		resolv = host
	}
	hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	for _, ip := range sb.IPs {
		hosts += ip + "\t" + hostname + "\n"
	}
	for name, content := range map[string][]byte{"hostname": []byte(hostname + "\n"), "hosts": []byte(hosts), "resolv.conf": resolv} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// pauseBinary is berth-shim, whose pause command holds namespaces.
func (s *Server) pauseBinary() string {
	if s.Pause == "" {
		return "berth-shim"
	}
	return s.Pause
}

// startPause starts the first process of a pod's shared PID namespace,
// detached from berthd (its own session), and returns its pid.
func (s *Server) startPause() (int, error) {
	bin := s.pauseBinary()
	cmd := exec.Command(bin, "pause")
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Cloneflags: syscall.CLONE_NEWPID}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("pod PID namespace: start %s pause: %w", bin, err)
	}
	pid := cmd.Process.Pid
	go cmd.Wait() // reaped while this daemon lives
	return pid, nil
}

// stopPause ends a pod's PID namespace (all its processes go with its
// first one).
func stopPause(pid int) {
	if pid <= 0 {
		return
	}
	// The pid must still be a pause process: after a restart of the
	// daemon it may have ended and the number be reused.
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err != nil || !strings.HasSuffix(string(b), "\x00pause\x00") {
		return
	}
	syscall.Kill(pid, syscall.SIGKILL)
}

// teardownPodNetwork releases a pod's endpoint, on a berth network or an
// outside one.
func (s *Server) teardownPodNetwork(ctx context.Context, sb *sandbox, atts []network.Attachment, ports []network.PortMapping) error {
	if len(sb.CNIConf) > 0 {
		return s.Networks.TeardownExternal(ctx, sb.ID, sb.CNIConf, ports)
	}
	return s.Networks.Teardown(ctx, sb.ID, atts, ports)
}
