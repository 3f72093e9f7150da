package specgen

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
)

// nsInfo is the namespace plan and the facts other parts need from it.
type nsInfo struct {
	list       []specs.LinuxNamespace
	netHost    bool // the host's network namespace
	netJoined  bool // another container's (container:<id>)
	ipcHost    bool
	ipcNone    bool // private, without /dev/shm
	ipcJoined  bool
	utsHost    bool
	utsJoined  bool
	cgroupHost bool
	userns     bool   // a joined user namespace (a pod's)
	maxGID     uint32 // the highest group id mapped in it
}

// cgroup2Host reports whether /sys/fs/cgroup is the unified hierarchy.
// Docker gives containers a private cgroup namespace there and the host's
// on cgroup v1. A variable so tests can pick either.
var cgroup2Host = sync.OnceValue(func() bool {
	var st unix.Statfs_t
	return unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
})

// nsMode parses "", "private", "host" or "container:<path>".
func nsMode(kind, mode string) (host bool, path string, err error) {
	switch {
	case mode == "" || mode == "private":
		return false, "", nil
	case mode == "host":
		return true, "", nil
	case strings.HasPrefix(mode, "container:"):
		p := strings.TrimPrefix(mode, "container:")
		if !filepath.IsAbs(p) {
			return false, "", errdefs.InvalidArgument("%s mode %q: the caller must resolve the container to the path of its namespace (/proc/<pid>/ns/...)", kind, mode)
		}
		return false, filepath.Clean(p), nil
	}
	return false, "", errdefs.InvalidArgument("invalid %s mode %q", kind, mode)
}

func namespaces(o Options) (nsInfo, error) {
	var info nsInfo
	add := func(t specs.LinuxNamespaceType, path string) {
		info.list = append(info.list, specs.LinuxNamespace{Type: t, Path: path})
	}

	pidHost, pidPath, err := nsMode("pid", o.PIDMode)
	if err != nil {
		return info, err
	}
	if !pidHost {
		add(specs.PIDNamespace, pidPath)
	}

	switch {
	case o.NetworkMode == "host":
		if o.NetNSPath != "" {
			return info, errdefs.InvalidArgument("conflicting options: network mode host and a network namespace path")
		}
		info.netHost = true
	case strings.HasPrefix(o.NetworkMode, "container:"):
		if !filepath.IsAbs(o.NetNSPath) {
			return info, errdefs.InvalidArgument("network mode %q needs the path of that container's network namespace", o.NetworkMode)
		}
		info.netJoined = true
		add(specs.NetworkNamespace, filepath.Clean(o.NetNSPath))
	default:
		if !validNetworkName(o.NetworkMode) {
			return info, errdefs.InvalidArgument("invalid network mode %q", o.NetworkMode)
		}
		if o.NetNSPath != "" && !filepath.IsAbs(o.NetNSPath) {
			return info, errdefs.InvalidArgument("network namespace path %q is not absolute", o.NetNSPath)
		}
		p := o.NetNSPath
		if p != "" {
			p = filepath.Clean(p)
		}
		add(specs.NetworkNamespace, p)
	}

	ipcMode := o.IPCMode
	switch ipcMode {
	case "shareable":
		ipcMode = ""
	case "none":
		ipcMode = ""
		info.ipcNone = true
	}
	ipcHost, ipcPath, err := nsMode("ipc", ipcMode)
	if err != nil {
		return info, err
	}
	info.ipcHost, info.ipcJoined = ipcHost, ipcPath != ""
	if !ipcHost {
		add(specs.IPCNamespace, ipcPath)
	}

	utsHost, utsPath, err := nsMode("uts", o.UTSMode)
	if err != nil {
		return info, err
	}
	info.utsHost, info.utsJoined = utsHost, utsPath != ""
	if !utsHost {
		add(specs.UTSNamespace, utsPath)
	}

	add(specs.MountNamespace, "")
	if o.UserNSPath != "" {
		if !filepath.IsAbs(o.UserNSPath) || len(o.UIDMappings) == 0 || len(o.GIDMappings) == 0 {
			return info, errdefs.InvalidArgument("user namespace %q: needs an absolute path and its uid and gid maps", o.UserNSPath)
		}
		add(specs.UserNamespace, filepath.Clean(o.UserNSPath))
		info.userns = true
		for _, m := range o.GIDMappings {
			info.maxGID = max(info.maxGID, m.ContainerID+m.Size-1)
		}
	}
	if cgroup2Host() {
		add(specs.CgroupNamespace, "")
	} else {
		info.cgroupHost = true
	}
	return info, nil
}

// Network names as Docker allows them, plus the empty default.
var networkName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

func validNetworkName(n string) bool { return n == "" || networkName.MatchString(n) }

// ipcSysctls are the kernel.* sysctls the IPC namespace isolates.
var ipcSysctls = map[string]bool{
	"kernel.msgmax": true, "kernel.msgmnb": true, "kernel.msgmni": true, "kernel.sem": true,
	"kernel.shmall": true, "kernel.shmmax": true, "kernel.shmmni": true, "kernel.shm_rmid_forced": true,
}

var sysctlName = regexp.MustCompile(`^[a-z0-9_-]+([./][a-zA-Z0-9_-]+)+$`)

// sysctls checks that every sysctl is isolated by a namespace the container
// owns (anything else would change the host) and adds Docker's defaults for
// a container with its own network: unprivileged ICMP sockets and binding
// to low ports without CAP_NET_BIND_SERVICE.
func sysctls(in map[string]string, ns nsInfo) (map[string]string, error) {
	out := map[string]string{}
	for k, v := range in {
		if !sysctlName.MatchString(k) {
			return nil, errdefs.InvalidArgument("invalid sysctl name %q", k)
		}
		if strings.ContainsRune(v, 0) {
			return nil, errdefs.InvalidArgument("invalid value for sysctl %q", k)
		}
		// The kernel accepts "/" as the separator too; check the dotted form.
		name := strings.ReplaceAll(k, "/", ".")
		switch {
		case strings.HasPrefix(name, "net."):
			if ns.netHost {
				return nil, errdefs.InvalidArgument("sysctl %q is not allowed with the host's network namespace", k)
			}
		case ipcSysctls[name] || strings.HasPrefix(name, "fs.mqueue."):
			if ns.ipcHost {
				return nil, errdefs.InvalidArgument("sysctl %q is not allowed with the host's IPC namespace", k)
			}
		case name == "kernel.hostname" || name == "kernel.domainname":
			if ns.utsHost {
				return nil, errdefs.InvalidArgument("sysctl %q is not allowed with the host's UTS namespace", k)
			}
		default:
			return nil, errdefs.InvalidArgument("sysctl %q is not allowed: it is not namespaced and would change the host", k)
		}
		out[k] = v
	}
	if !ns.netHost && !ns.netJoined {
		if _, ok := in["net.ipv4.ping_group_range"]; !ok {
			// Every group may ping; in a user namespace, only its groups
			// can be named.
			out["net.ipv4.ping_group_range"] = "0 2147483647"
			if ns.userns {
				out["net.ipv4.ping_group_range"] = fmt.Sprintf("0 %d", ns.maxGID)
			}
		}
		if _, ok := in["net.ipv4.ip_unprivileged_port_start"]; !ok && kernelVersion().atLeast(kver{4, 11}) {
			out["net.ipv4.ip_unprivileged_port_start"] = "0"
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}
