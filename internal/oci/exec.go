//go:build !berthinit

package oci

import (
	"fmt"
	"os"
	"strconv"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/linux/caps"
	"github.com/berth-dev/berth/internal/linux/procattr"
)

// ExecOpts are the flags of `exec`.
type ExecOpts struct {
	Process       *specs.Process
	ConsoleSocket string
	PidFile       string
	PreserveFDs   int
	consoleConn   *os.File
}

// Exec starts another process in a running container and returns it; the
// caller waits for it unless it detaches.
func (h *Handle) Exec(o *ExecOpts) (*Proc, error) {
	if st := h.Status(); st != Running && st != Created {
		return nil, errdefs.FailedPrecondition("cannot exec in a %s container", st)
	}
	if err := validateProcess(o.Process); err != nil {
		return nil, err
	}
	if err := caps.Validate(o.Process.Capabilities); err != nil {
		return nil, err
	}
	if err := procattr.Validate(o.Process, nil); err != nil {
		return nil, err
	}
	if o.Process.Terminal && o.ConsoleSocket == "" && o.consoleConn == nil {
		return nil, errdefs.InvalidArgument("process.terminal: a terminal needs --console-socket")
	}
	o.Process.Capabilities = availableCaps(o.Process.Capabilities)
	filter, notify, err := compileSeccomp(h.Store.Root, h.Spec)
	if err != nil {
		return nil, err
	}
	pid := h.Record.Pid
	plan := &nsPlan{}
	for _, ns := range h.Spec.Linux.Namespaces {
		name := procNSName[ns.Type]
		path := "/proc/" + strconv.Itoa(pid) + "/ns/" + name
		if sameNS(path, "/proc/self/ns/"+name) {
			continue
		}
		switch ns.Type {
		case specs.UserNamespace:
			plan.childJoin = append([]string{"user:" + path}, plan.childJoin...)
		case specs.MountNamespace:
			plan.childJoin = append(plan.childJoin, "mnt:"+path)
		default:
			plan.threadJoin = append(plan.threadJoin, nsJoin{path, int(cloneFlag[ns.Type])})
		}
	}
	cg, err := h.Cgroup()
	if err != nil {
		return nil, err
	}

	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	parentSock := os.NewFile(uintptr(pair[0]), "exec-parent")
	childSock := os.NewFile(uintptr(pair[1]), "exec-child")
	defer parentSock.Close()
	defer childSock.Close()
	var files initFiles
	nc, err := newNotifyChannel(notify)
	if err != nil {
		return nil, err
	}
	defer nc.close()
	if nc != nil {
		files.add(fileSeccomp, nc.child)
	}
	if o.Process.Terminal {
		closeConsole, err := files.addConsole(o.consoleConn, o.ConsoleSocket)
		if err != nil {
			return nil, err
		}
		defer closeConsole()
	}
	icmd, err := newInitCommand(o.PreserveFDs, nil, childSock, plan)
	if err != nil {
		return nil, err
	}
	if cg.Version() == 2 {
		fd, err := cg.DirFD()
		if err != nil {
			return nil, err
		}
		defer unix.Close(fd)
		icmd.attr.UseCgroupFD, icmd.attr.CgroupFD = true, fd
	}
	cmd, err := plan.start(icmd, nil)
	if err != nil {
		return nil, fmt.Errorf("start exec init: %w", err)
	}
	childSock.Close()
	fail := func(err error) (*Proc, error) {
		cmd.Kill()
		cmd.Wait()
		return nil, err
	}
	if cg.Version() == 1 {
		if err := cg.Apply(cmd.Pid); err != nil {
			return fail(fmt.Errorf("join cgroup: %w", err))
		}
	}
	cfg := &initConfig{
		Exec: true, Spec: childSpec(h.Spec), Process: o.Process, Files: files.names, Nice: ownNice(),
		PreserveFDs: o.PreserveFDs, State: stateJSON(h.Record.OCIState(Running)), Seccomp: filter,
	}
	if err := files.send(parentSock); err != nil {
		return fail(err)
	}
	if err := h.Store.handshake(parentSock, cfg, h.Spec, nil); err != nil {
		return fail(fmt.Errorf("exec: %w", err))
	}
	if err := nc.forward(h.Spec, cmd.Pid, h.Record.OCIState(Running).State); err != nil {
		return fail(err)
	}
	if o.PidFile != "" {
		if err := writeFileAtomic(o.PidFile, []byte(strconv.Itoa(cmd.Pid)), 0o644); err != nil {
			return fail(fmt.Errorf("pid file: %w", err))
		}
	}
	return cmd, nil
}

func sameNS(a, b string) bool {
	var sa, sb unix.Stat_t
	if unix.Stat(a, &sa) != nil || unix.Stat(b, &sb) != nil {
		return false
	}
	return sa.Ino == sb.Ino && sa.Dev == sb.Dev
}
