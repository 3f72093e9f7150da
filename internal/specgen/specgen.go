// Package specgen builds the OCI runtime spec of a container the way
// `docker run` does: Docker's defaults (mounts, namespaces, capabilities,
// seccomp, masked paths, device rules), then what the image contributes, then
// the user's options. It only computes; it mounts, creates and starts nothing,
// so everything here runs without root.
package specgen

import (
	"fmt"
	"os"
	"path"
	"regexp"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/errdefs"
)

// Image is what the image contributes (the fields of
// images.RuntimeDefaults; kept separate so this package does not depend on
// the image store). Volumes, Labels and StopSignal are not part of a runtime
// spec: the caller turns Volumes into Mounts and keeps the rest.
type Image struct {
	Env, Entrypoint, Cmd []string
	User, WorkingDir     string
	StopSignal           string
	Volumes              []string
	Labels               map[string]string
}

// Ulimit is one --ulimit: Name is the rlimit without its prefix ("nofile"),
// -1 means unlimited.
type Ulimit struct {
	Name       string
	Soft, Hard int64
}

// Mount is a user mount. Type is "bind" (volumes are binds of the host path
// the caller resolved; "volume" is accepted as a synonym) or "tmpfs".
// Options are mount(8) options; Propagation, when set, overrides any
// propagation option.
type Mount struct {
	Type        string
	Source      string
	Destination string
	Options     []string
	ReadOnly    bool
	Propagation string
}

// Device is one --device: the host node (or a directory of nodes), where it
// appears in the container (default: the same path) and the cgroup
// permissions (any of "rwm"; default "rwm").
type Device struct {
	PathOnHost        string
	PathInContainer   string
	CgroupPermissions string
}

// Options are the user's choices, as docker run's flags and the Engine API's
// HostConfig carry them.
type Options struct {
	// MaskedPaths and ReadonlyPaths, when set, replace the defaults
	// (Docker's HostConfig fields, the CRI's security context).
	MaskedPaths, ReadonlyPaths     []string
	ID, Name, Hostname, Domainname string

	Env []string
	// Entrypoint replaces the image's entrypoint when EntrypointSet (or when
	// it is not empty); an empty Entrypoint (or [""]) with EntrypointSet
	// clears it. Either way the image's Cmd is then not used.
	Entrypoint    []string
	EntrypointSet bool
	Cmd           []string

	User, WorkingDir string
	Tty, OpenStdin   bool

	Privileged, ReadOnly bool
	// Init runs InitPath (a host path, bind-mounted read-only at
	// /sbin/berth-init) as pid 1 with "--" and the command.
	Init     bool
	InitPath string

	CapAdd, CapDrop []string // "NET_ADMIN", "CAP_NET_ADMIN", "ALL"
	// SecurityOpt: "no-new-privileges[:true|false]", "seccomp=unconfined",
	// "seccomp=builtin", "seccomp=/path/profile.json" or the profile's JSON
	// itself (what the docker CLI sends), "systempaths=unconfined",
	// "writable-cgroups=true"; "label=..." and "apparmor=..." are accepted
	// and ignored. ":" may stand for "=" as in old docker versions.
	SecurityOpt []string
	Ulimits     []Ulimit

	Memory, MemorySwap, MemoryReservation int64
	NanoCPUs                              int64
	CPUShares                             int64
	CPUQuota, CPUPeriod                   int64
	CpusetCpus, CpusetMems                string
	PidsLimit                             int64
	BlkioWeight                           uint16

	ShmSize int64             // bytes; 0 means 64 MiB
	Tmpfs   map[string]string // path -> "rw,size=64m,mode=1777"
	Mounts  []Mount
	Sysctls map[string]string

	// NetworkMode: "host" shares the host's network namespace;
	// "container:<id>" joins NetNSPath (which the caller resolved); anything
	// else ("", "none", "bridge", a network name) gets a private namespace,
	// the one at NetNSPath when set (made by the caller, e.g. for CNI).
	NetworkMode string
	NetNSPath   string
	// IPCMode, PIDMode, UTSMode: "" (private), "host", or "container:<path>"
	// with the path of the namespace to join (/proc/<pid>/ns/ipc), which the
	// caller resolved. IPCMode also takes "private", "shareable" and "none"
	// (a private namespace without /dev/shm).
	IPCMode, PIDMode, UTSMode string
	// UserNSPath joins the user namespace pinned there (a pod's), whose
	// maps are UIDMappings and GIDMappings. The container's new
	// namespaces belong to it.
	UserNSPath               string
	UIDMappings, GIDMappings []specs.LinuxIDMapping

	CgroupParent string // default "/berth"; a "*.slice" parent selects systemd's "slice:berth:id" form
	OOMScoreAdj  *int
	GroupAdd     []string
	// StrictGroups: the supplementary groups are only GroupAdd (and the
	// primary group), not the image's /etc/group memberships (the CRI's
	// SupplementalGroupsPolicy Strict).
	StrictGroups bool
	Devices      []Device
	Labels       map[string]string

	// Files the caller wrote, bind-mounted at /etc/hosts, /etc/hostname and
	// /etc/resolv.conf (read-only when the rootfs is).
	HostsPath, HostnamePath, ResolvConfPath string

	Rootfs string // host path of the mounted rootfs; /etc/passwd and /etc/group are read from it
}

// DefaultShmSize is the size of /dev/shm when Options.ShmSize is 0.
const DefaultShmSize = 64 << 20

// DefaultCgroupParent is where containers' cgroups go when
// Options.CgroupParent is empty.
const DefaultCgroupParent = "/berth"

// InitDestination is where Options.InitPath appears in the container.
const InitDestination = "/sbin/berth-init"

// DefaultPath is the PATH of a container whose image sets none.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

var validID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// Generate returns the runtime spec of a container made from img with opts.
// Every error caused by bad input is an errdefs.InvalidArgument.
func Generate(img Image, opts Options) (*specs.Spec, error) {
	if !validID.MatchString(opts.ID) {
		return nil, errdefs.InvalidArgument("invalid container id %q", opts.ID)
	}
	sec, err := parseSecurityOpts(opts.SecurityOpt)
	if err != nil {
		return nil, err
	}
	ns, err := namespaces(opts)
	if err != nil {
		return nil, err
	}
	root := opts.Rootfs
	if root == "" {
		root = "rootfs"
	}
	s := &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: root, Readonly: opts.ReadOnly},
		Linux: &specs.Linux{
			Namespaces:  ns.list,
			Resources:   &specs.LinuxResources{},
			UIDMappings: opts.UIDMappings,
			GIDMappings: opts.GIDMappings,
		},
	}
	if err := setHostname(s, opts, ns); err != nil {
		return nil, err
	}
	if s.Process, err = process(img, opts, s.Hostname, ns); err != nil {
		return nil, err
	}
	s.Process.NoNewPrivileges = sec.noNewPrivileges
	if opts.OOMScoreAdj != nil {
		if v := *opts.OOMScoreAdj; v < -1000 || v > 1000 {
			return nil, errdefs.InvalidArgument("invalid value %d for oom score adj: the range is [-1000, 1000]", v)
		}
		v := *opts.OOMScoreAdj
		s.Process.OOMScoreAdj = &v
	}
	if s.Process.Rlimits, err = rlimits(opts.Ulimits); err != nil {
		return nil, err
	}
	capList, err := capabilities(opts.CapAdd, opts.CapDrop, opts.Privileged)
	if err != nil {
		return nil, err
	}
	s.Process.Capabilities = &specs.LinuxCapabilities{
		Bounding:  capList,
		Effective: append([]string(nil), capList...),
		Permitted: append([]string(nil), capList...),
	}
	if !opts.Privileged && sec.seccomp != nil {
		if s.Linux.Seccomp, err = sec.seccomp.resolve(capList, nativeArch(), kernelVersion()); err != nil {
			return nil, err
		}
	}
	if !opts.Privileged && !sec.unconfinedPaths {
		s.Linux.MaskedPaths = append([]string(nil), defaultMaskedPaths...)
		s.Linux.ReadonlyPaths = append([]string(nil), defaultReadonlyPaths...)
		if opts.MaskedPaths != nil {
			s.Linux.MaskedPaths = append([]string(nil), opts.MaskedPaths...)
		}
		if opts.ReadonlyPaths != nil {
			s.Linux.ReadonlyPaths = append([]string(nil), opts.ReadonlyPaths...)
		}
	}
	if s.Mounts, s.Linux.RootfsPropagation, err = mounts(opts, ns, sec); err != nil {
		return nil, err
	}
	if err := resources(s.Linux.Resources, opts); err != nil {
		return nil, err
	}
	if s.Linux.Devices, s.Linux.Resources.Devices, err = devices(opts); err != nil {
		return nil, err
	}
	if s.Linux.Sysctl, err = sysctls(opts.Sysctls, ns); err != nil {
		return nil, err
	}
	s.Linux.CgroupsPath = cgroupsPath(opts.CgroupParent, opts.ID)
	return s, nil
}

// setHostname fills hostname and domainname. Docker names a container's
// host after its short ID, or after the host when it shares the host's
// network; with the host's UTS namespace nothing can be set.
func setHostname(s *specs.Spec, opts Options, ns nsInfo) error {
	if len(opts.Hostname) > 64 || !validHostChars(opts.Hostname) {
		return errdefs.InvalidArgument("invalid hostname %q", opts.Hostname)
	}
	if len(opts.Domainname) > 64 || !validHostChars(opts.Domainname) {
		return errdefs.InvalidArgument("invalid domainname %q", opts.Domainname)
	}
	if ns.utsHost {
		if opts.Hostname != "" || opts.Domainname != "" {
			return errdefs.InvalidArgument("conflicting options: hostname and the UTS mode")
		}
		return nil
	}
	if ns.utsJoined {
		// The joined namespace already has its names.
		return nil
	}
	s.Hostname = opts.Hostname
	if s.Hostname == "" {
		if ns.netHost {
			h, err := os.Hostname()
			if err != nil {
				return fmt.Errorf("read the host's name: %w", err)
			}
			s.Hostname = h
		} else {
			s.Hostname = opts.ID
			if len(s.Hostname) > 12 {
				s.Hostname = s.Hostname[:12]
			}
		}
	}
	s.Domainname = opts.Domainname
	return nil
}

func validHostChars(h string) bool {
	for _, c := range h {
		if c <= ' ' || c == '/' || c == 0x7f {
			return false
		}
	}
	return true
}

// cgroupsPath puts the container under parent. A systemd slice parent
// gives the "slice:prefix:name" form systemd cgroup drivers expect.
func cgroupsPath(parent, id string) string {
	if parent == "" {
		parent = DefaultCgroupParent
	}
	if path.Ext(parent) == ".slice" && !strings.Contains(parent, "/") {
		return parent + ":berth:" + id
	}
	return path.Join("/", parent, id)
}

var defaultMaskedPaths = []string{
	"/proc/asound",
	"/proc/acpi",
	"/proc/kcore",
	"/proc/keys",
	"/proc/latency_stats",
	"/proc/timer_list",
	"/proc/timer_stats",
	"/proc/sched_debug",
	"/proc/scsi",
	"/sys/firmware",
	"/sys/devices/virtual/powercap",
}

var defaultReadonlyPaths = []string{
	"/proc/bus",
	"/proc/fs",
	"/proc/irq",
	"/proc/sys",
	"/proc/sysrq-trigger",
}
