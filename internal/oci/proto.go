package oci

import (
	"fmt"
	"os"
	"unsafe"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/linux/rootfs"
)

// The parent (create, exec) and the re-executed init talk over a socket
// pair (frames, see wire.go): the parent sends the fds (initFiles) and one
// initConfig, then both exchange syncMsgs.

// fifoName is the exec fifo in a container's state directory.
const fifoName = "exec.fifo"

// EnvInitFD names the child's end of the socket pair.
const EnvInitFD = "_BERTH_INIT"

// EnvInitSpare marks an init forked ahead of its container (PreforkInit).
const EnvInitSpare = "_BERTH_INIT_SPARE"

// The init's set-up is the critical path of a container start, and it
// competes for the CPU with its parent's own work (validation, cgroup
// creation). It is born at a higher priority (initCommand.start; a spare
// raises itself when its config comes) and restores the runtime's
// (initConfig.Nice) before hooks and before it execs the container's
// process, which therefore runs at the priority it would have had. Needs
// CAP_SYS_NICE; without it nothing changes.
const initBoost = 10

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
	// Files names the fds that came with the config (sendFiles), in order.
	Files []string `json:"files,omitempty"`
	// Set by the child from Files; -1 when absent.
	FifoFD      int `json:"-"` // O_PATH fd of the state dir holding exec.fifo
	ConsoleFD   int `json:"-"` // connected --console-socket
	SeccompFD   int `json:"-"` // where to send a seccomp notify fd
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
	// Nice is the runtime's own nice value, which the init (started at a
	// higher priority, see boost) restores before the container process.
	Nice int `json:"-"`
	// State is the container state JSON given to hooks run by the child.
	State []byte `json:"state,omitempty"`
	// Enter is set for an init forked ahead of its container (a spare,
	// see PreforkInit): what clone would have given it, it does itself.
	Enter *nsEnter `json:"-"`
	// StdioFDs are the container's stdin, stdout and stderr for a spare,
	// which was forked before they existed (-1: keep its own).
	StdioFDs [3]int `json:"-"`
}

// nsEnter is how a spare init, born in a new pid namespace only, gets the
// rest of the container's namespaces: the joined ones first (setns), then
// the new ones (unshare), as a fork from a thread that had joined them
// would have.
type nsEnter struct {
	Joins   []nsJoin
	Unshare uintptr
}

// nsJoin is a namespace to join: its path and its clone flag.
type nsJoin struct {
	path string
	flag int
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

// File names in initConfig.Files.
const (
	fileFifoDir = "fifo-dir"
	fileConsole = "console"
	fileSeccomp = "seccomp"
	fileStdin   = "stdin"
	fileStdout  = "stdout"
	fileStderr  = "stderr"
)

// initFiles are fds for the init that are known only after it was forked
// (the state directory, the console socket, the seccomp channel): they
// travel over the socket pair, in one SCM_RIGHTS message ahead of the
// config, which names them.
type initFiles struct {
	names []string
	files []*os.File
}

func (f *initFiles) add(name string, file *os.File) {
	f.names = append(f.names, name)
	f.files = append(f.files, file)
}

func (f *initFiles) send(sock *os.File) error {
	fds := make([]int, len(f.files))
	for i, file := range f.files {
		fds[i] = int(file.Fd())
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	if err := unix.Sendmsg(int(sock.Fd()), []byte{'F'}, oob, nil, 0); err != nil {
		return fmt.Errorf("send fds to init: %w", err)
	}
	return nil
}

// recvFiles is the init's side: one byte, up to maxInitFiles fds.
func recvFiles(sock int) ([]int, error) {
	// A raw recvmsg(2): the init may wait here for the runtime, see rawReader.
	buf := make([]byte, 1)
	oob := make([]byte, unix.CmsgSpace(4*maxInitFiles))
	iov := unix.Iovec{Base: &buf[0]}
	iov.SetLen(len(buf))
	msg := unix.Msghdr{Iov: &iov, Iovlen: 1, Control: &oob[0]}
	msg.SetControllen(len(oob))
	for {
		_, _, e := unix.RawSyscall(unix.SYS_RECVMSG, uintptr(sock), uintptr(unsafe.Pointer(&msg)), unix.MSG_CMSG_CLOEXEC)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return nil, e
		}
		break
	}
	oobn := int(msg.Controllen)
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, err
	}
	var fds []int
	for i := range msgs {
		got, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			return nil, err
		}
		fds = append(fds, got...)
	}
	return fds, nil
}

const maxInitFiles = 7

// assignFiles fills the fd fields from the names the parent sent.
func (c *initConfig) assignFiles(fds []int) error {
	if len(fds) != len(c.Files) {
		return fmt.Errorf("got %d fds for files %v", len(fds), c.Files)
	}
	c.FifoFD, c.ConsoleFD, c.SeccompFD = -1, -1, -1
	c.StdioFDs = [3]int{-1, -1, -1}
	for i, name := range c.Files {
		switch name {
		case fileStdin:
			c.StdioFDs[0] = fds[i]
		case fileStdout:
			c.StdioFDs[1] = fds[i]
		case fileStderr:
			c.StdioFDs[2] = fds[i]
		case fileFifoDir:
			c.FifoFD = fds[i]
		case fileConsole:
			c.ConsoleFD = fds[i]
		case fileSeccomp:
			c.SeccompFD = fds[i]
		default:
			return fmt.Errorf("unknown file %q", name)
		}
	}
	return nil
}
