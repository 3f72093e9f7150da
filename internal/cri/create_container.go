package cri

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/moby/moby/api/types/container"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	ctr "github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/errdefs"
)

// CreateContainer creates a container in a pod: it joins the pod's
// namespaces and files, logs in the CRI format where the kubelet says,
// and gets the security context and resources it asks for.
func (s *Server) CreateContainer(ctx context.Context, req *runtimeapi.CreateContainerRequest) (*runtimeapi.CreateContainerResponse, error) {
	sb, err := s.getSandbox(req.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	if !sb.Ready {
		return nil, errdefs.FailedPrecondition("pod sandbox %s is not ready", sb.ID)
	}
	pcfg, err := sb.config()
	if err != nil {
		return nil, err
	}
	cfg := req.GetConfig()
	md := cfg.GetMetadata()
	if md == nil || md.Name == "" {
		return nil, errdefs.InvalidArgument("container metadata needs a name")
	}
	if cfg.GetImage().GetImage() == "" {
		return nil, errdefs.InvalidArgument("container image is empty")
	}
	if cfg.Windows != nil {
		return nil, errdefs.InvalidArgument("Windows containers are not supported")
	}
	img, err := s.findImage(ctx, cfg.Image)
	if err != nil {
		return nil, err
	}
	if img == nil {
		return nil, errdefs.NotFound("image %q not found: pull it first", cfg.Image.Image)
	}
	annotations, _ := json.Marshal(cfg.Annotations)
	labels := map[string]string{}
	for k, v := range cfg.Labels {
		labels[k] = v
	}
	labels[labelNamespace] = criNamespace
	labels[labelSandbox] = sb.ID
	labels[labelName] = md.Name
	labels[labelAttempt] = strconv.FormatUint(uint64(md.Attempt), 10)
	labels[labelAnnotations] = string(annotations)
	labels[labelImage] = cfg.Image.Image
	cc := &container.Config{
		Image: img.ID.String(), Entrypoint: cfg.Command, Cmd: cfg.Args, WorkingDir: cfg.WorkingDir,
		Tty: cfg.Tty, OpenStdin: cfg.Stdin, StdinOnce: cfg.StdinOnce, Labels: labels,
	}
	for _, kv := range cfg.Envs {
		cc.Env = append(cc.Env, kv.Key+"="+string(kv.Value))
	}
	// The pod's runtime handler picks the OCI runtime (berth-oci, runc,
	// crun) of all its containers.
	hc := &container.HostConfig{Runtime: sb.RuntimeHandler}
	for _, m := range cfg.Mounts {
		if m.Image != nil || len(m.UidMappings) > 0 || len(m.GidMappings) > 0 {
			return nil, errdefs.NotImplemented("image volumes and idmapped mounts are not supported yet")
		}
		if m.HostPath == "" || m.ContainerPath == "" {
			return nil, errdefs.InvalidArgument("mount needs a host and a container path")
		}
		if _, err := os.Stat(m.HostPath); err != nil {
			// The kubelet's hostPath volumes exist; anything else is a
			// mistake, as in containerd.
			return nil, errdefs.InvalidArgument("mount source %s: %v", m.HostPath, err)
		}
		opt := "rw"
		if m.Readonly {
			opt = "ro"
		}
		if m.RecursiveReadOnly {
			if !m.Readonly {
				return nil, errdefs.InvalidArgument("mount %s: recursive read-only needs read-only", m.ContainerPath)
			}
			if m.Propagation != runtimeapi.MountPropagation_PROPAGATION_PRIVATE {
				return nil, errdefs.InvalidArgument("mount %s: recursive read-only needs private propagation", m.ContainerPath)
			}
			opt = "rro"
		}
		switch m.Propagation {
		case runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER:
			opt += ",rslave"
		case runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL:
			opt += ",rshared"
		default:
			opt += ",rprivate"
		}
		hc.Binds = append(hc.Binds, m.HostPath+":"+m.ContainerPath+":"+opt)
	}
	if err := applyLinux(cc, hc, cfg.GetLinux()); err != nil {
		return nil, err
	}
	// The pod's sysctls apply to each of its containers (they share the
	// namespaces the sysctls belong to).
	if sysctls := pcfg.GetLinux().GetSysctls(); len(sysctls) > 0 {
		hc.Sysctls = map[string]string{}
		for k, v := range sysctls {
			hc.Sysctls[k] = v
		}
	}
	pod := &ctr.Pod{SandboxID: sb.ID, NetNS: s.netnsPath(&sb), Files: s.sandboxDir(sb.ID),
		StrictGroups: cfg.GetLinux().GetSecurityContext().GetSupplementalGroupsPolicy() == runtimeapi.SupplementalGroupsPolicy_Strict}
	if err := sameUserNS(&sb, cfg.GetLinux().GetSecurityContext().GetNamespaceOptions().GetUsernsOptions()); err != nil {
		return nil, err
	}
	if u := sb.UserNS; u != nil {
		pod.UserNS, pod.UIDMap, pod.GIDMap = s.userPath(sb.ID), specMaps(u.UIDs), specMaps(u.GIDs)
	}
	if namespaceOptions(pcfg).GetIpc() != runtimeapi.NamespaceMode_NODE {
		pod.IPC = s.ipcPath(sb.ID)
	}
	if !sb.HostNetwork {
		pod.UTS = s.utsPath(sb.ID)
	}
	if cfg.GetLinux().GetSecurityContext().GetNamespaceOptions().GetPid() == runtimeapi.NamespaceMode_POD && cfg.GetLinux().GetSecurityContext().GetNamespaceOptions() != nil {
		if sb.PausePid <= 0 {
			return nil, errdefs.FailedPrecondition("pod %s has no shared PID namespace", sb.ID[:12])
		}
		pod.PID = fmt.Sprintf("/proc/%d/ns/pid", sb.PausePid)
	}
	var logPath string
	if dir := pcfg.GetLogDirectory(); dir != "" && cfg.GetLogPath() != "" {
		logPath = filepath.Join(dir, cfg.LogPath)
	}
	pmd := pcfg.GetMetadata()
	name := fmt.Sprintf("k8s_%s_%s_%s_%s_%d", md.Name, pmd.Name, pmd.Namespace, pmd.Uid, md.Attempt)
	c, err := s.Containers.Create(ctx, ctr.CreateOptions{Name: name, Config: cc, HostConfig: hc, Pod: pod, CRILogPath: logPath})
	if errdefs.IsConflict(err) {
		return nil, errdefs.AlreadyExists("container %q in pod %s already exists", md.Name, sb.ID)
	}
	if err != nil {
		return nil, err
	}
	return &runtimeapi.CreateContainerResponse{ContainerId: c.ID}, nil
}

// applyLinux maps the CRI's Linux security context and resources onto
// the Docker-shaped record the container service keeps.
func applyLinux(cc *container.Config, hc *container.HostConfig, l *runtimeapi.LinuxContainerConfig) error {
	sc := l.GetSecurityContext()
	if ns := sc.GetNamespaceOptions(); ns != nil {
		// (POD is the enum's zero value: only set options count.)
		switch ns.GetPid() {
		case runtimeapi.NamespaceMode_NODE:
			hc.PidMode = "host"
		case runtimeapi.NamespaceMode_POD:
			// The pod's: CreateContainer joins it.
		case runtimeapi.NamespaceMode_TARGET:
			return errdefs.NotImplemented("a PID namespace shared with a target container is not supported yet")
		}
	}
	hc.Privileged = sc.GetPrivileged()
	hc.MaskedPaths, hc.ReadonlyPaths = sc.GetMaskedPaths(), sc.GetReadonlyPaths()
	hc.ReadonlyRootfs = sc.GetReadonlyRootfs()
	hc.CapAdd = sc.GetCapabilities().GetAddCapabilities()
	hc.CapDrop = sc.GetCapabilities().GetDropCapabilities()
	switch {
	case sc.GetRunAsUser() != nil:
		cc.User = strconv.FormatInt(sc.GetRunAsUser().GetValue(), 10)
	case sc.GetRunAsUsername() != "":
		cc.User = sc.GetRunAsUsername()
	}
	if g := sc.GetRunAsGroup(); g != nil {
		if cc.User == "" {
			return errdefs.InvalidArgument("run_as_group needs run_as_user or run_as_username")
		}
		cc.User += ":" + strconv.FormatInt(g.GetValue(), 10)
	}
	for _, g := range sc.GetSupplementalGroups() {
		hc.GroupAdd = append(hc.GroupAdd, strconv.FormatInt(g, 10))
	}
	if sc.GetNoNewPrivs() {
		hc.SecurityOpt = append(hc.SecurityOpt, "no-new-privileges")
	}
	// The CRI's default is no seccomp profile: the kubelet asks for
	// RuntimeDefault when the pod wants it.
	switch p := sc.GetSeccomp(); p.GetProfileType() {
	case runtimeapi.SecurityProfile_RuntimeDefault:
		if p != nil {
			break // berth's default profile
		}
		hc.SecurityOpt = append(hc.SecurityOpt, "seccomp=unconfined")
	case runtimeapi.SecurityProfile_Unconfined:
		hc.SecurityOpt = append(hc.SecurityOpt, "seccomp=unconfined")
	case runtimeapi.SecurityProfile_Localhost:
		b, err := os.ReadFile(p.GetLocalhostRef())
		if err != nil {
			return errdefs.InvalidArgument("seccomp profile %s: %v", p.GetLocalhostRef(), err)
		}
		hc.SecurityOpt = append(hc.SecurityOpt, "seccomp="+string(b))
	}
	if r := l.GetResources(); r != nil {
		hc.CPUShares, hc.CPUQuota, hc.CPUPeriod = r.CpuShares, r.CpuQuota, r.CpuPeriod
		hc.Memory, hc.CpusetCpus, hc.CpusetMems = r.MemoryLimitInBytes, r.CpusetCpus, r.CpusetMems
		if r.MemorySwapLimitInBytes > 0 {
			hc.MemorySwap = r.MemorySwapLimitInBytes
		}
		if r.OomScoreAdj > 0 {
			// A negative score needs CAP_SYS_RESOURCE, which the node
			// may not have: it is left out, as restrict_oom_score_adj
			// does in containerd.
			hc.OomScoreAdj = int(r.OomScoreAdj)
		}
	}
	return nil
}
