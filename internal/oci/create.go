package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/linux/caps"
	"github.com/berth-dev/berth/internal/linux/cgroups"
	"github.com/berth-dev/berth/internal/linux/exeseal"
	"github.com/berth-dev/berth/internal/linux/rootfs"
)

// CreateOpts are the flags of `create` (and `run`).
type CreateOpts struct {
	ID            string
	Bundle        string
	PidFile       string
	ConsoleSocket string
	NoPivot       bool
	Systemd       bool
	PreserveFDs   int
	// consoleConn replaces ConsoleSocket when `run` proxies the terminal itself.
	consoleConn *os.File
	// wantTTY makes that proxy, called only for specs with a terminal.
	wantTTY func() (*os.File, error)
}

// Container is a created container; Cmd is set for the process that made
// it, which is the init's parent and may wait for it.
type Container struct {
	Record *Record
	Spec   *specs.Spec
	Cmd    *exec.Cmd
	cg     *cgroups.Manager
}

// LoadBundle reads and validates <bundle>/config.json.
func LoadBundle(bundle string) (*specs.Spec, string, error) {
	abs, err := filepath.Abs(bundle)
	if err != nil {
		return nil, "", err
	}
	b, err := os.ReadFile(filepath.Join(abs, "config.json"))
	if err != nil {
		return nil, "", errdefs.InvalidArgument("bundle %s: %v", abs, unwrapPathErr(err))
	}
	var spec specs.Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		return nil, "", errdefs.InvalidArgument("%s/config.json: %v", abs, err)
	}
	return &spec, abs, nil
}

// Create makes a container up to the exec fifo: namespaces, cgroup, rootfs,
// process set up, waiting for `start`. Anything it made is undone if a later
// step fails.
func (s Store) Create(o *CreateOpts) (_ *Container, err error) {
	if err := ValidateID(o.ID); err != nil {
		return nil, err
	}
	spec, bundle, err := LoadBundle(o.Bundle)
	if err != nil {
		return nil, err
	}
	// process is optional for create; start refuses without one (runtime spec).
	if err := ValidateSpec(spec, bundle, false); err != nil {
		return nil, err
	}
	proc := spec.Process
	if proc == nil {
		proc = &specs.Process{}
	}
	plan, err := planNamespaces(spec.Linux.Namespaces)
	if err != nil {
		return nil, errdefs.InvalidArgument("%v", err)
	}
	if proc.Terminal && o.ConsoleSocket == "" && o.consoleConn == nil && o.wantTTY != nil {
		if o.consoleConn, err = o.wantTTY(); err != nil {
			return nil, err
		}
	}
	if proc.Terminal && o.ConsoleSocket == "" && o.consoleConn == nil {
		return nil, errdefs.InvalidArgument("process.terminal: a terminal needs --console-socket")
	}
	rootfs := spec.Root.Path
	if !filepath.IsAbs(rootfs) {
		rootfs = filepath.Join(bundle, rootfs)
	}
	if rootfs, err = filepath.EvalSymlinks(rootfs); err != nil {
		return nil, errdefs.InvalidArgument("root.path: %v", err)
	}
	proc.Capabilities = caps.Available(proc.Capabilities)
	filter, notify, err := compileSeccomp(s.Root, spec)
	if err != nil {
		return nil, err
	}
	cgPath := spec.Linux.CgroupsPath
	if cgPath == "" {
		cgPath = "/berth-oci/" + o.ID
	}
	cg, err := cgroups.Open(cgPath, o.Systemd)
	if err != nil {
		return nil, errdefs.InvalidArgument("linux.cgroupsPath: %v", err)
	}
	if n := spec.Linux.Resources; n != nil && n.Network != nil && cg.Path("net_cls") == "" && cg.Path("net_prio") == "" && cg.Version() == 1 {
		return nil, errdefs.InvalidArgument("linux.resources.network: the net_cls and net_prio controllers are not mounted on this host")
	}

	var undo cleanups
	defer func() {
		if err == nil {
			return
		}
		undo.run()
		// A failed create-time hook continues the lifecycle at delete,
		// whose poststop hooks then run (runtime spec, lifecycle step 12).
		var he *hookError
		if errors.As(err, &he) && spec.Hooks != nil {
			runHooksWarn("poststop", spec.Hooks.Poststop, stateJSON(&State{State: specs.State{
				Version: specs.Version, ID: o.ID, Status: Stopped, Bundle: bundle, Annotations: spec.Annotations}}))
		}
	}()
	if err := os.MkdirAll(s.Root, 0o711); err != nil {
		return nil, fmt.Errorf("state root: %w", err)
	}
	dir := s.dir(o.ID)
	if err := os.Mkdir(dir, 0o711); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, errdefs.AlreadyExists("container %q already exists", o.ID)
		}
		return nil, fmt.Errorf("state dir: %w", err)
	}
	undo.add(func() { os.RemoveAll(dir) })
	specBytes, _ := json.Marshal(spec)
	if err := os.WriteFile(filepath.Join(dir, configFile), specBytes, 0o600); err != nil {
		return nil, err
	}

	var res *specs.LinuxResources
	if spec.Linux.Resources != nil {
		cp := *spec.Linux.Resources
		cp.Devices = deviceRules(spec)
		res = &cp
	}
	// On cgroup v2 the child is cloned straight into its cgroup, which
	// must exist first. On v1 the cgroup is made while the child builds
	// its rootfs (it waits for msgPlaced before its first cgroup mount).
	createCgroup := func() error {
		if err := cg.Create(res); err != nil {
			cg.Destroy()
			return fmt.Errorf("cgroup %s: %w", cgPath, err)
		}
		return nil
	}
	// cgReady reports the cgroup's creation; until it is received nothing
	// else may touch cg.
	cgReady := make(chan error, 1)
	cgPending := true
	waitCgroup := func() error {
		if !cgPending {
			return nil
		}
		cgPending = false
		err := <-cgReady
		if err == nil {
			undo.add(func() { cg.Destroy() })
		}
		return err
	}
	defer waitCgroup() // never leave the goroutine behind on an early return
	if cg.Version() == 2 {
		cgReady <- createCgroup()
		if err := waitCgroup(); err != nil {
			return nil, err
		}
	} else {
		// On v1 the directories are made on another thread while this one
		// forks and execs the init (os.StartProcess blocks until exec).
		go func() { cgReady <- createCgroup() }()
	}

	fifoPath := filepath.Join(dir, fifoName)
	if err := unix.Mkfifo(fifoPath, 0o622); err != nil {
		return nil, fmt.Errorf("exec fifo: %w", err)
	}
	// Past the umask: the init may run as any user of any user namespace.
	if err := os.Chmod(fifoPath, 0o622); err != nil {
		return nil, err
	}
	// init reopens the fifo relative to this directory fd: that works after
	// pivot_root or chroot, without a /proc, and in a user namespace.
	fifoDir, err := os.OpenFile(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer fifoDir.Close()

	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	parentSock := os.NewFile(uintptr(pair[0]), "init-parent")
	childSock := os.NewFile(uintptr(pair[1]), "init-child")
	defer parentSock.Close()
	defer childSock.Close()

	extra := make([]*os.File, 0, o.PreserveFDs+3)
	for i := 0; i < o.PreserveFDs; i++ {
		extra = append(extra, os.NewFile(uintptr(3+i), "preserved"))
	}
	base := 3 + o.PreserveFDs
	extra = append(extra, childSock, fifoDir)
	nc, err := newNotifyChannel(notify)
	if err != nil {
		return nil, err
	}
	defer nc.close()
	seccompFD := -1
	if nc != nil {
		extra = append(extra, nc.child)
		seccompFD = childFD(extra)
	}
	consoleFD := -1
	if proc.Terminal {
		conn := o.consoleConn
		if conn == nil {
			if conn, err = dialConsole(o.ConsoleSocket); err != nil {
				return nil, err
			}
			defer conn.Close()
		}
		extra = append(extra, conn)
		consoleFD = childFD(extra)
	}

	exe, err := exeseal.Open()
	if err != nil {
		return nil, fmt.Errorf("seal runtime binary: %w", err)
	}
	defer exe.Close()
	exePath, closeExe, err := highFD(exe, len(extra))
	if err != nil {
		return nil, err
	}
	defer closeExe()

	cmd := &exec.Cmd{
		Path:       exePath,
		Args:       []string{"berth-oci", "init"},
		Env:        append(initEnv(base), plan.env()...),
		Stdin:      os.Stdin,
		Stdout:     os.Stdout,
		Stderr:     os.Stderr,
		ExtraFiles: extra,
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: plan.clone,
		},
	}
	if plan.newUser {
		cmd.SysProcAttr.UidMappings = idMaps(spec.Linux.UIDMappings)
		cmd.SysProcAttr.GidMappings = idMaps(spec.Linux.GIDMappings)
		cmd.SysProcAttr.GidMappingsEnableSetgroups = true
		// Become root of the new namespace before exec, or the exec drops
		// every capability (host root is unmapped there).
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true}
	}
	if cg.Version() == 2 {
		fd, err := cg.DirFD()
		if err != nil {
			return nil, err
		}
		defer unix.Close(fd)
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, fd
	}
	if err := plan.start(cmd, spec.Linux.TimeOffsets); err != nil {
		return nil, fmt.Errorf("start init: %w", err)
	}
	childSock.Close()
	undo.add(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	pid := cmd.Process.Pid
	startTime, _, err := procStartTime(pid)
	if err != nil {
		return nil, fmt.Errorf("init exited early: %w", err)
	}
	rec := &Record{
		ID: o.ID, Bundle: bundle, Rootfs: rootfs, Pid: pid, StartTime: startTime,
		Created: time.Now().UTC(), Owner: owner(), Annotations: spec.Annotations,
		CgroupPath: cgPath, Systemd: o.Systemd, OwnPidNS: plan.newPid,
		CgroupPaths: cg.Paths(),
	}
	if err := s.save(rec); err != nil {
		return nil, err
	}
	// runtime-tools and crun give create-time hooks "created" (the spec's
	// lifecycle names no status for them).
	state := stateJSON(rec.OCIState(Created))
	cfg := &initConfig{
		Spec: childSpec(spec), Process: spec.Process, Rootfs: rootfs, Bundle: bundle, NoPivot: o.NoPivot,
		Cgroups: cgroupDirs(cg), CgroupV2: cg.Version() == 2,
		NewCgroupNS: plan.newCgroup, NewUserNS: plan.newUser, NewNetNS: plan.newNet,
		FifoFD: base + 1, ConsoleFD: consoleFD, SeccompFD: seccompFD, PreserveFDs: o.PreserveFDs,
		Seccomp: filter, NoMountNS: !plan.hasMountNS,
		SyncHooks: spec.Hooks != nil && (len(spec.Hooks.Prestart) > 0 || len(spec.Hooks.CreateRuntime) > 0), //nolint:staticcheck
		State:     state,
	}
	// The child builds its rootfs while we move it into its cgroup: on v1
	// the first write to cgroup.procs waits for an RCU grace period, often
	// several milliseconds. It waits for msgPlaced before it runs anything.
	ys := newSync(parentSock)
	if err := ys.send(cfg); err != nil {
		return nil, s.childError(cmd, err)
	}
	if cg.Version() == 1 {
		if err := waitCgroup(); err != nil {
			return nil, err
		}
		if err := ys.send(syncMsg{Type: msgCgroupReady}); err != nil {
			return nil, s.childError(cmd, err)
		}
		if err := cg.Apply(pid); err != nil {
			return nil, fmt.Errorf("join cgroup: %w", err)
		}
	}
	if p := proc; p.OOMScoreAdj != nil {
		if err := writeOOMScoreAdj(pid, *p.OOMScoreAdj); err != nil {
			return nil, err
		}
	}
	if err := ys.send(syncMsg{Type: msgPlaced}); err != nil {
		return nil, s.childError(cmd, err)
	}
	if err := ys.serve(spec, state); err != nil {
		return nil, s.childError(cmd, err)
	}
	if err := nc.forward(spec, pid, rec.OCIState(Created).State); err != nil {
		return nil, err
	}
	if o.PidFile != "" {
		if err := writeFileAtomic(o.PidFile, []byte(strconv.Itoa(pid)), 0o644); err != nil {
			return nil, fmt.Errorf("pid file: %w", err)
		}
	}
	undo.release()
	return &Container{Record: rec, Spec: spec, Cmd: cmd, cg: cg}, nil
}

// initSync is the parent's end of the socket pair with an init.
type initSync struct {
	enc *json.Encoder
	dec *json.Decoder
}

func newSync(sock *os.File) *initSync {
	return &initSync{enc: json.NewEncoder(sock), dec: json.NewDecoder(sock)}
}

func (y *initSync) send(v any) error {
	if err := y.enc.Encode(v); err != nil {
		return fmt.Errorf("write to init: %w", err)
	}
	return nil
}

// serve answers the child until it is ready: runs prestart and
// createRuntime hooks when it asks.
func (y *initSync) serve(spec *specs.Spec, state []byte) error {
	for {
		var m syncMsg
		if err := y.dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return errors.New("init exited during setup")
			}
			return fmt.Errorf("read from init: %w", err)
		}
		switch m.Type {
		case msgError:
			if m.HookFailed {
				return &hookError{errors.New(m.Error)}
			}
			return errors.New(m.Error)
		case msgReady:
			return nil
		case msgHooks:
			//nolint:staticcheck // Prestart is deprecated but still run, before createRuntime.
			if err := runHooks("prestart", spec.Hooks.Prestart, state); err != nil {
				return err
			}
			if err := runHooks("createRuntime", spec.Hooks.CreateRuntime, state); err != nil {
				return err
			}
			if err := y.send(syncMsg{Type: msgResume}); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unexpected message %q from init", m.Type)
		}
	}
}

// handshake sends the config and serves the child until it is ready, for a
// child already in its cgroup.
func (s Store) handshake(sock *os.File, cfg *initConfig, spec *specs.Spec, state []byte) error {
	y := newSync(sock)
	if err := y.send(cfg); err != nil {
		return err
	}
	if err := y.send(syncMsg{Type: msgPlaced}); err != nil {
		return err
	}
	return y.serve(spec, state)
}

// childError adds the child's exit status when it died instead of reporting.
func (s Store) childError(cmd *exec.Cmd, err error) error {
	return fmt.Errorf("create: %w", err)
}

func dialConsole(path string) (*os.File, error) {
	f, err := dialUnix(path)
	if err != nil {
		return nil, errdefs.InvalidArgument("--console-socket %s: %v", path, err)
	}
	return f, nil
}

// dialUnix connects a stream socket without the net package (whose
// initialisation every short-lived invocation would pay).
func dialUnix(path string) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), path), nil
}

// highFD moves the executable's fd above the ones ExtraFiles will occupy in
// the child, so "/proc/self/fd/N" still names it when execve runs.
func highFD(f *os.File, extra int) (string, func(), error) {
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 3+extra+16)
	if err != nil {
		return "", nil, err
	}
	return "/proc/self/fd/" + strconv.Itoa(fd), func() { unix.Close(fd) }, nil
}

func writeOOMScoreAdj(pid int, v int) error {
	path := "/proc/" + strconv.Itoa(pid) + "/oom_score_adj"
	err := os.WriteFile(path, []byte(strconv.Itoa(v)), 0)
	if err == nil {
		return nil
	}
	if errors.Is(err, os.ErrPermission) {
		// Lowering the score needs CAP_SYS_RESOURCE; without it keep the
		// inherited value, as containerd's restrict_oom_score_adj does.
		slog.Warn("process.oomScoreAdj not applied: no CAP_SYS_RESOURCE; keeping the inherited value", "value", v)
		return nil
	}
	return fmt.Errorf("process.oomScoreAdj: %w", err)
}

func owner() string {
	if u, err := user.LookupId(strconv.Itoa(os.Getuid())); err == nil {
		return u.Username
	}
	return ""
}

// cgroupDirs lists the hierarchies as the container's /sys/fs/cgroup shows them.
func cgroupDirs(cg *cgroups.Manager) []rootfs.CgroupDir {
	var out []rootfs.CgroupDir
	for _, h := range cg.Hierarchies() {
		out = append(out, rootfs.CgroupDir{Name: h.Name, Host: h.Dir})
	}
	return out
}

// initEnv is the whole environment of the re-executed init. It is short-
// lived and single-threaded by design: no GC, one P, so the Go runtime
// starts no threads it does not need.
func initEnv(fd int) []string {
	return []string{EnvInitFD + "=" + strconv.Itoa(fd), "GOGC=off", "GOMAXPROCS=1"}
}

// childSpec is the part of the spec the init uses: the rest (resources,
// the seccomp profile it gets compiled, runtime-side hooks, annotations)
// would only cost it decoding time.
func childSpec(spec *specs.Spec) *specs.Spec {
	c := &specs.Spec{
		Version: spec.Version, Root: spec.Root, Mounts: spec.Mounts,
		Hostname: spec.Hostname, Domainname: spec.Domainname,
	}
	if h := spec.Hooks; h != nil && (len(h.CreateContainer) > 0 || len(h.StartContainer) > 0) {
		c.Hooks = &specs.Hooks{CreateContainer: h.CreateContainer, StartContainer: h.StartContainer}
	}
	if l := spec.Linux; l != nil {
		c.Linux = &specs.Linux{
			Namespaces: l.Namespaces, Devices: l.Devices, Sysctl: l.Sysctl,
			RootfsPropagation: l.RootfsPropagation, MaskedPaths: l.MaskedPaths,
			ReadonlyPaths: l.ReadonlyPaths, Personality: l.Personality, MemoryPolicy: l.MemoryPolicy,
		}
	}
	return c
}
