//go:build !berthinit

package oci

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/linux/nsenter"
)

var cloneFlag = map[specs.LinuxNamespaceType]uintptr{
	specs.PIDNamespace: unix.CLONE_NEWPID, specs.NetworkNamespace: unix.CLONE_NEWNET,
	specs.MountNamespace: unix.CLONE_NEWNS, specs.IPCNamespace: unix.CLONE_NEWIPC,
	specs.UTSNamespace: unix.CLONE_NEWUTS, specs.UserNamespace: unix.CLONE_NEWUSER,
	specs.CgroupNamespace: unix.CLONE_NEWCGROUP, specs.TimeNamespace: unix.CLONE_NEWTIME,
}

// procNSName is the /proc/<pid>/ns entry of each type.
var procNSName = map[specs.LinuxNamespaceType]string{
	specs.PIDNamespace: "pid", specs.NetworkNamespace: "net", specs.MountNamespace: "mnt",
	specs.IPCNamespace: "ipc", specs.UTSNamespace: "uts", specs.UserNamespace: "user",
	specs.CgroupNamespace: "cgroup", specs.TimeNamespace: "time",
}

// nsPlan says how the child gets each namespace. Three mechanisms, chosen by
// what the kernel allows a multi-threaded Go parent:
//   - clone flags for new namespaces (except cgroup, unshared by the child
//     once it sits in its cgroup, and time, which clone(2) cannot create);
//   - setns on a locked parent thread for joined pid, net, ipc, uts, cgroup
//     and time namespaces: a child inherits the namespaces of the thread
//     that forked it;
//   - the nsenter constructor in the child for joined user and mount
//     namespaces, which need a single-threaded caller.
type nsPlan struct {
	clone      uintptr
	threadJoin []nsJoin
	childJoin  []string // "user:/path", "mnt:/path", in that order
	// childUnshare: namespaces the child creates after joining a user namespace.
	childUnshare uintptr
	unshareTime  bool
	newUser      bool
	joinUser     bool // an existing user namespace is joined
	// forkInit: the child started is an intermediate that forks the init
	// into its new pid namespace and reports its pid (see nsenter.c).
	forkInit   bool
	newCgroup  bool
	newNet     bool
	newPid     bool
	hasMountNS bool
}

func planNamespaces(list []specs.LinuxNamespace) (*nsPlan, error) {
	p := &nsPlan{}
	var user, mnt string
	for _, ns := range list {
		flag := cloneFlag[ns.Type]
		p.hasMountNS = p.hasMountNS || ns.Type == specs.MountNamespace
		if ns.Path == "" {
			switch ns.Type {
			case specs.CgroupNamespace:
				p.newCgroup = true
			case specs.TimeNamespace:
				p.unshareTime = true
			default:
				p.clone |= flag
			}
			p.newUser = p.newUser || ns.Type == specs.UserNamespace
			p.newNet = p.newNet || ns.Type == specs.NetworkNamespace
			p.newPid = p.newPid || ns.Type == specs.PIDNamespace
			continue
		}
		switch ns.Type {
		case specs.UserNamespace:
			user = ns.Path
		case specs.MountNamespace:
			mnt = ns.Path
		default:
			p.threadJoin = append(p.threadJoin, nsJoin{ns.Path, int(flag)})
		}
	}
	if user != "" {
		// New namespaces must belong to the joined user namespace, so the
		// child creates them itself, after joining (nsenter). A new pid
		// namespace only applies to the child's children: the constructor
		// forks the init into it (forkInit). Time offsets must be written
		// before anything lives in the namespace, which nsenter cannot do.
		if p.unshareTime {
			return nil, fmt.Errorf("linux.namespaces: joining an existing user namespace while creating a new time namespace is not supported")
		}
		p.forkInit = p.clone&unix.CLONE_NEWPID != 0
		p.childUnshare, p.clone = p.clone, 0
		p.childJoin = append(p.childJoin, "user:"+user)
		p.joinUser = true
	}
	if mnt != "" {
		p.childJoin = append(p.childJoin, "mnt:"+mnt)
	}
	return p, nil
}

// env returns what the nsenter constructor reads; sockFD is the child's
// end of the init socket, where a forking constructor reports the pid.
func (p *nsPlan) env(sockFD int) []string {
	var env []string
	if p.forkInit {
		env = append(env, nsenter.EnvForkFD+"="+strconv.Itoa(sockFD))
	}
	if len(p.childJoin) > 0 {
		env = append(env, nsenter.EnvJoin+"="+strings.Join(p.childJoin, ","))
	}
	if p.childUnshare != 0 {
		env = append(env, nsenter.EnvUnshare+"="+strconv.Itoa(int(p.childUnshare)))
	}
	return env
}

// start forks cmd from a thread that has joined the planned namespaces.
// That thread is never unlocked, so the Go runtime retires it with its
// foreign namespaces.
func (p *nsPlan) start(cmd *initCommand, timeOffsets map[string]specs.LinuxTimeOffset) (*Proc, error) {
	if len(p.threadJoin) == 0 && !p.unshareTime {
		return cmd.start()
	}
	type result struct {
		proc *Proc
		err  error
	}
	errc := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		proc, err := func() (*Proc, error) {
			for _, j := range p.threadJoin {
				fd, err := unix.Open(j.path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
				if err != nil {
					return nil, fmt.Errorf("open namespace %s: %w", j.path, err)
				}
				err = unix.Setns(fd, j.flag)
				unix.Close(fd)
				if err != nil {
					return nil, fmt.Errorf("join namespace %s: %w", j.path, err)
				}
			}
			if p.unshareTime {
				if err := unix.Unshare(unix.CLONE_NEWTIME); err != nil {
					return nil, fmt.Errorf("unshare time namespace: %w", err)
				}
				if err := writeTimeOffsets(timeOffsets); err != nil {
					return nil, err
				}
			}
			return cmd.start()
		}()
		errc <- result{proc, err}
	}()
	r := <-errc
	return r.proc, r.err
}

func writeTimeOffsets(offs map[string]specs.LinuxTimeOffset) error {
	if len(offs) == 0 {
		return nil
	}
	var b strings.Builder
	for clock, o := range offs {
		fmt.Fprintf(&b, "%s %d %d\n", clock, o.Secs, o.Nanosecs)
	}
	// The offsets belong to the thread that unshared (its namespace for
	// children); /proc/thread-self has no timens_offsets, /proc/<tid> does.
	path := "/proc/" + strconv.Itoa(unix.Gettid()) + "/timens_offsets"
	if err := os.WriteFile(path, []byte(b.String()), 0); err != nil {
		return fmt.Errorf("linux.timeOffsets: %w", err)
	}
	return nil
}

func idMaps(m []specs.LinuxIDMapping) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, len(m))
	for i, x := range m {
		out[i] = syscall.SysProcIDMap{ContainerID: int(x.ContainerID), HostID: int(x.HostID), Size: int(x.Size)}
	}
	return out
}

func itoa(i int) string { return strconv.Itoa(i) }
