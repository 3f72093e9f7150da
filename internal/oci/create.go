//go:build !berthinit

package oci

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/linux/cgroups"
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
	// Stdio, if set, is the container's stdin, stdout and stderr, in place
	// of this process's own (a caller creating containers in-process).
	Stdio []*os.File
	// InProcess: this process is not berth-oci, which a create that must
	// join a user or mount namespace re-executes (ErrNeedsRuntimeBinary).
	InProcess bool
	// consoleConn replaces ConsoleSocket when `run` proxies the terminal itself.
	consoleConn *os.File
	// wantTTY makes that proxy, called only for specs with a terminal.
	wantTTY func() (*os.File, error)
}

// ErrNeedsRuntimeBinary says an in-process create cannot make this
// container (it joins a user or mount namespace, which needs berth-oci's
// own executable): run berth-oci.
var ErrNeedsRuntimeBinary = errors.New("the container needs the berth-oci executable")

// Container is a created container; Proc is the init, whose parent (the
// process that made it) may wait for it.
type Container struct {
	Record *Record
	Spec   *specs.Spec
	Proc   *Proc
	cg     *cgroups.Manager
}

// LoadBundle reads and parses <bundle>/config.json.
func LoadBundle(bundle string) (*specs.Spec, string, error) {
	raw, abs, err := readBundle(bundle)
	if err != nil {
		return nil, "", err
	}
	spec, err := parseSpec(raw, abs)
	return spec, abs, err
}

func readBundle(bundle string) ([]byte, string, error) {
	abs, err := filepath.Abs(bundle)
	if err != nil {
		return nil, "", err
	}
	b, err := os.ReadFile(filepath.Join(abs, "config.json"))
	if err != nil {
		return nil, "", errdefs.InvalidArgument("bundle %s: %v", abs, unwrapPathErr(err))
	}
	return b, abs, nil
}

func parseSpec(raw []byte, bundle string) (*specs.Spec, error) {
	var spec specs.Spec
	if err := json.Unmarshal(raw, &spec); err != nil {
		return nil, errdefs.InvalidArgument("%s/config.json: %v", bundle, err)
	}
	return &spec, nil
}

// forkFields is the part of config.json the init must be forked with.
type forkFields struct {
	Process *struct {
		Terminal bool `json:"terminal"`
	} `json:"process"`
	Linux *struct {
		Namespaces  []specs.LinuxNamespace           `json:"namespaces"`
		UIDMappings []specs.LinuxIDMapping           `json:"uidMappings"`
		GIDMappings []specs.LinuxIDMapping           `json:"gidMappings"`
		TimeOffsets map[string]specs.LinuxTimeOffset `json:"timeOffsets"`
	} `json:"linux"`
}

// creation is one `create` in progress. Everything it makes is undone
// unless it completes.
type creation struct {
	s      Store
	o      *CreateOpts
	bundle string
	spec   *specs.Spec
	proc   *specs.Process // spec.Process, or an empty one
	plan   *nsPlan
	uidMap []specs.LinuxIDMapping
	gidMap []specs.LinuxIDMapping
	offs   map[string]specs.LinuxTimeOffset
	undo   cleanups

	child      *Proc
	parentSock *os.File
	spare      bool // child is a spare init (PreforkInit), not forked for us
	prep       prepared
}

// Create makes a container up to the exec fifo: namespaces, cgroup, rootfs,
// process set up, waiting for `start`. Anything it made is undone if a later
// step fails.
//
// The init is a re-executed berth-oci whose Go runtime takes a millisecond
// or two to start; on cgroup v1 it is forked as soon as its namespaces are
// known, and the spec is validated, the state and the cgroup made while it
// starts. It does nothing until it gets its config, so a spec that fails
// validation only costs killing it.
func (s Store) Create(o *CreateOpts) (_ *Container, err error) {
	if err := ValidateID(o.ID); err != nil {
		return nil, err
	}
	if _, err := os.Lstat(s.dir(o.ID)); err == nil {
		return nil, errdefs.AlreadyExists("container %q already exists", o.ID)
	}
	raw, bundle, err := readBundle(o.Bundle)
	if err != nil {
		return nil, err
	}
	c := &creation{s: s, o: o, bundle: bundle}
	defer func() {
		if err != nil {
			c.fail(err)
		}
	}()
	defer c.endPrepare()
	if o.InProcess {
		// One container per process: a spare not adopted now never is.
		defer DropSpareInit(false)
	}
	if !cgroups.Unified() && c.planEarly(raw) {
		if o.InProcess && c.plan.spareFits(o.PreserveFDs) {
			if sp := takeSpare(); sp != nil {
				return c.withSpare(raw, sp)
			}
		}
		// Fork while the full spec is parsed and checked, and what the
		// init's config needs is made, on another thread.
		parsed := make(chan error, 1)
		go func() {
			err := c.parse(raw)
			if err == nil {
				err = c.prepare()
			}
			parsed <- err
		}()
		forkErr := c.fork(nil)
		err := <-parsed
		c.undo = append(c.undo, c.prep.undo...)
		c.prep.undo = nil
		if err != nil {
			return nil, err // the spec's own error beats a failed fork
		}
		if forkErr != nil {
			return nil, forkErr
		}
		return c.finish()
	}
	if err := c.parseAndPrepare(raw); err != nil {
		return nil, err
	}
	return c.finish()
}

// withSpare creates the container with a spare init, which is already
// waiting for its config: what remains is the parent's own work.
func (c *creation) withSpare(raw []byte, sp *spareInit) (*Container, error) {
	c.child, c.parentSock, c.spare = sp.proc, sp.sock, true
	c.undo.add(func() { c.parentSock.Close() })
	if err := c.parseAndPrepare(raw); err != nil {
		return nil, err
	}
	return c.finish()
}

// parseAndPrepare is parse, then prepare, on this thread.
func (c *creation) parseAndPrepare(raw []byte) error {
	err := c.parse(raw)
	if err == nil {
		err = c.prepare()
	}
	c.undo = append(c.undo, c.prep.undo...)
	c.prep.undo = nil
	return err
}

// planEarly reads only what the fork needs; false means: parse first.
func (c *creation) planEarly(raw []byte) bool {
	var f forkFields
	if json.Unmarshal(raw, &f) != nil || f.Linux == nil {
		return false
	}
	plan, err := planNamespaces(f.Linux.Namespaces)
	if err != nil {
		return false
	}
	c.plan, c.uidMap, c.gidMap, c.offs = plan, f.Linux.UIDMappings, f.Linux.GIDMappings, f.Linux.TimeOffsets
	return true
}

// parse decodes and validates the whole spec.
func (c *creation) parse(raw []byte) error {
	spec, err := parseSpec(raw, c.bundle)
	if err != nil {
		return err
	}
	// process is optional for create; start refuses without one (runtime spec).
	if err := ValidateSpec(spec, c.bundle, false); err != nil {
		return err
	}
	plan, err := planNamespaces(spec.Linux.Namespaces)
	if err != nil {
		return errdefs.InvalidArgument("%v", err)
	}
	c.spec, c.proc = spec, spec.Process
	if c.proc == nil {
		c.proc = &specs.Process{}
	}
	if c.plan == nil {
		c.plan, c.uidMap, c.gidMap, c.offs = plan, spec.Linux.UIDMappings, spec.Linux.GIDMappings, spec.Linux.TimeOffsets
	}
	return nil
}

// fork starts the init in its new (or joined) namespaces. It waits for its
// config on the socket pair.
func (c *creation) fork(cgroupFD *int) error {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	c.parentSock = os.NewFile(uintptr(pair[0]), "init-parent")
	childSock := os.NewFile(uintptr(pair[1]), "init-child")
	defer childSock.Close()
	c.undo.add(func() { c.parentSock.Close() })
	if c.o.InProcess && len(c.plan.childJoin) > 0 {
		return ErrNeedsRuntimeBinary
	}
	cmd, err := newInitCommand(c.o.PreserveFDs, c.o.Stdio, childSock, c.plan)
	if err != nil {
		return err
	}
	if c.plan.newUser {
		cmd.attr.UidMappings = idMaps(c.uidMap)
		cmd.attr.GidMappings = idMaps(c.gidMap)
		cmd.attr.GidMappingsEnableSetgroups = true
		// Become root of the new namespace before exec, or the exec drops
		// every capability (host root is unmapped there).
		cmd.attr.Credential = &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true}
	}
	if cgroupFD != nil {
		cmd.attr.UseCgroupFD, cmd.attr.CgroupFD = true, *cgroupFD
	}
	proc, err := c.plan.start(cmd, c.offs)
	if err != nil {
		return fmt.Errorf("start init: %w", err)
	}
	if c.plan.forkInit {
		if proc, err = forkedInit(proc, c.parentSock); err != nil {
			return err
		}
	}
	c.child = proc // killed first by fail
	return nil
}

// forkedInit reaps the intermediate process that forked the init into
// its new pid namespace and returns the init, read from the socket.
func forkedInit(mid *Proc, sock *os.File) (*Proc, error) {
	ws, err := mid.Wait()
	if err != nil {
		return nil, fmt.Errorf("start init: %w", err)
	}
	if ws.ExitStatus() != 0 || ws.Signaled() {
		// The constructor said why on stderr.
		return nil, fmt.Errorf("start init: joining namespaces failed (status %d)", ws.ExitStatus())
	}
	var b [4]byte
	if _, err := io.ReadFull(sock, b[:]); err != nil {
		return nil, fmt.Errorf("start init: read its pid: %w", err)
	}
	pid := int(int32(binary.NativeEndian.Uint32(b[:])))
	if pid <= 0 {
		return nil, fmt.Errorf("start init: bad pid %d", pid)
	}
	return &Proc{Pid: pid}, nil
}

// fail undoes everything and, for a failed create-time hook, goes on to
// the poststop hooks (runtime spec, lifecycle step 12).
func (c *creation) fail(err error) {
	// The init first: its cgroup cannot be removed while it lives in it.
	if c.child != nil {
		c.child.Kill()
		c.child.Wait()
	}
	c.undo.run()
	var he *hookError
	if errors.As(err, &he) && c.spec != nil && c.spec.Hooks != nil {
		runHooksWarn("poststop", c.spec.Hooks.Poststop, stateJSON(&State{State: specs.State{
			Version: specs.Version, ID: c.o.ID, Status: Stopped, Bundle: c.bundle, Annotations: c.spec.Annotations}}))
	}
}

// prepared is what the init's config needs besides the init itself: made
// while the init forks and starts (prepare), or before the fork.
type prepared struct {
	rootfsPath string
	filter     []byte
	notify     bool
	cg         *cgroups.Manager
	cgPath     string
	dir        string
	cgDone     chan error // the cgroup directories, made on another thread
	cgWaited   bool
	files      initFiles
	nc         *notifyChannel
	closers    []func() // what finish closes when it returns
	undo       cleanups // moved to the creation's once prepare returns
}

// prepare does what finish needs that does not need the init: it runs on
// its own thread while the init forks and starts (the fork's goroutine
// waits ~1.5 ms for the init's exec), instead of after it, where the init
// sat waiting for its config.
func (c *creation) prepare() (err error) {
	p := &c.prep
	spec, proc, o := c.spec, c.proc, c.o
	if proc.Terminal && o.ConsoleSocket == "" && o.consoleConn == nil && o.wantTTY != nil {
		conn, err := o.wantTTY()
		if err != nil {
			return err
		}
		o.consoleConn = conn
	}
	if proc.Terminal && o.ConsoleSocket == "" && o.consoleConn == nil {
		return errdefs.InvalidArgument("process.terminal: a terminal needs --console-socket")
	}
	rootfsPath := spec.Root.Path
	if !filepath.IsAbs(rootfsPath) {
		rootfsPath = filepath.Join(c.bundle, rootfsPath)
	}
	if p.rootfsPath, err = filepath.EvalSymlinks(rootfsPath); err != nil {
		return errdefs.InvalidArgument("root.path: %v", err)
	}
	proc.Capabilities = availableCaps(proc.Capabilities)
	if p.filter, p.notify, err = compileSeccomp(c.s.Root, spec); err != nil {
		return err
	}
	p.cgPath = spec.Linux.CgroupsPath
	if p.cgPath == "" {
		p.cgPath = "/berth-oci/" + o.ID
	}
	cg, err := cgroups.Open(p.cgPath, o.Systemd)
	if err != nil {
		return errdefs.InvalidArgument("linux.cgroupsPath: %v", err)
	}
	p.cg = cg
	if n := spec.Linux.Resources; n != nil && n.Network != nil && cg.Path("net_cls") == "" && cg.Path("net_prio") == "" && cg.Version() == 1 {
		return errdefs.InvalidArgument("linux.resources.network: the net_cls and net_prio controllers are not mounted on this host")
	}
	if p.dir, err = c.makeStateDir(&p.undo); err != nil {
		return err
	}
	// The cgroup directories are made on another thread meanwhile; on v2
	// they must exist before the fork (the init is cloned into them).
	p.cgDone = make(chan error, 1)
	go func() { p.cgDone <- c.makeCgroup(cg, p.cgPath) }()

	fifoDir, err := makeFifo(p.dir)
	if err != nil {
		return err
	}
	p.closers = append(p.closers, func() { fifoDir.Close() })
	p.files.add(fileFifoDir, fifoDir)
	nc, err := newNotifyChannel(p.notify)
	if err != nil {
		return err
	}
	p.nc = nc
	p.closers = append(p.closers, nc.close)
	if nc != nil {
		p.files.add(fileSeccomp, nc.child)
	}
	if proc.Terminal {
		closeConsole, err := p.files.addConsole(o.consoleConn, o.ConsoleSocket)
		if err != nil {
			return err
		}
		p.closers = append(p.closers, closeConsole)
	}
	return nil
}

// waitCgroup waits for the cgroup directories prepare started making.
func (c *creation) waitCgroup() error {
	p := &c.prep
	if p.cgDone == nil || p.cgWaited {
		return nil
	}
	p.cgWaited = true
	err := <-p.cgDone
	if err == nil {
		cg := p.cg
		c.undo.add(func() { cg.Destroy() })
	}
	return err
}

// endPrepare runs when Create returns: the cgroup thread is never left
// running, and what only the init needed is closed.
func (c *creation) endPrepare() {
	c.waitCgroup()
	for i := len(c.prep.closers) - 1; i >= 0; i-- {
		c.prep.closers[i]()
	}
	c.prep.closers = nil
}

// finish does the rest once the spec is valid and prepared (and, maybe,
// the init forked).
func (c *creation) finish() (*Container, error) {
	spec, proc, o := c.spec, c.proc, c.o
	p := &c.prep
	rootfsPath, filter, cg, cgPath, dir, files, nc := p.rootfsPath, p.filter, p.cg, p.cgPath, p.dir, &p.files, p.nc
	if c.child == nil {
		var cgFD *int
		if cg.Version() == 2 {
			if err := c.waitCgroup(); err != nil {
				return nil, err
			}
			fd, err := cg.DirFD()
			if err != nil {
				return nil, err
			}
			defer unix.Close(fd)
			cgFD = &fd
		}
		if err := c.fork(cgFD); err != nil {
			return nil, err
		}
	}
	pid := c.child.Pid
	startTime, _, err := procStartTime(pid)
	if err != nil {
		return nil, fmt.Errorf("init exited early: %w", err)
	}
	rec := &Record{
		ID: o.ID, Bundle: c.bundle, Rootfs: rootfsPath, Pid: pid, StartTime: startTime,
		Created: time.Now().UTC(), Owner: owner(), Annotations: spec.Annotations,
		CgroupPath: cgPath, Systemd: o.Systemd, OwnPidNS: c.plan.newPid,
		CgroupPaths: cg.Paths(),
	}
	// runtime-tools and crun give create-time hooks "created" (the spec's
	// lifecycle names no status for them).
	state := stateJSON(rec.OCIState(Created))
	cfg := &initConfig{
		Spec: childSpec(spec), Process: spec.Process, Rootfs: rootfsPath, Bundle: c.bundle, NoPivot: o.NoPivot,
		Cgroups: cgroupDirs(cg), CgroupV2: cg.Version() == 2,
		// NewUserNS: in a user namespace other than the host's (made or joined).
		NewCgroupNS: c.plan.newCgroup, NewUserNS: c.plan.newUser || c.plan.joinUser, NewNetNS: c.plan.newNet,
		Files: files.names, PreserveFDs: o.PreserveFDs, Nice: ownNice(),
		Seccomp: filter, NoMountNS: !c.plan.hasMountNS,
		SyncHooks: spec.Hooks != nil && (len(spec.Hooks.Prestart) > 0 || len(spec.Hooks.CreateRuntime) > 0), //nolint:staticcheck
		State:     state,
	}
	if c.spare {
		cfg.Enter = c.plan.enterFor()
		for i, name := range []string{fileStdin, fileStdout, fileStderr} {
			if i < len(o.Stdio) && o.Stdio[i] != nil {
				files.add(name, o.Stdio[i])
			}
		}
		cfg.Files = files.names
	}
	if err := files.send(c.parentSock); err != nil {
		return nil, err
	}
	// The child builds its rootfs while we move it into its cgroup: on v1
	// the first write to cgroup.procs waits for an RCU grace period, often
	// several milliseconds. It waits for msgPlaced before it runs anything.
	ys := newSync(c.parentSock)
	if err := ys.sendConfig(cfg); err != nil {
		return nil, childError(err)
	}
	// The state is written while the init builds the rootfs: nothing
	// reads it before create returns.
	if err := c.saveState(dir, rec); err != nil {
		return nil, err
	}
	if err := c.waitCgroup(); err != nil {
		return nil, err
	}
	if cg.Version() == 1 {
		if err := ys.send(syncMsg{Type: msgCgroupReady}); err != nil {
			return nil, childError(err)
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
		return nil, childError(err)
	}
	if err := ys.serve(spec, state); err != nil {
		return nil, childError(err)
	}
	if err := nc.forward(spec, pid, rec.OCIState(Created).State); err != nil {
		return nil, err
	}
	if o.PidFile != "" {
		if err := writeFileAtomic(o.PidFile, []byte(strconv.Itoa(pid)), 0o644); err != nil {
			return nil, fmt.Errorf("pid file: %w", err)
		}
	}
	c.parentSock.Close()
	c.undo.release()
	return &Container{Record: rec, Spec: spec, Proc: c.child, cg: cg}, nil
}

// makeStateDir creates <root>/<id> (saveState fills it).
func (c *creation) makeStateDir(undo *cleanups) (string, error) {
	if err := os.MkdirAll(c.s.Root, 0o711); err != nil {
		return "", fmt.Errorf("state root: %w", err)
	}
	dir := c.s.dir(c.o.ID)
	if err := os.Mkdir(dir, 0o711); err != nil {
		if errors.Is(err, os.ErrExist) {
			return "", errdefs.AlreadyExists("container %q already exists", c.o.ID)
		}
		return "", fmt.Errorf("state dir: %w", err)
	}
	undo.add(func() { os.RemoveAll(dir) })
	return dir, nil
}

// saveState writes the spec and the state record into the state dir.
func (c *creation) saveState(dir string, rec *Record) error {
	specBytes, err := json.Marshal(c.spec)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, configFile), specBytes, 0o600); err != nil {
		return err
	}
	return c.s.save(rec)
}

// makeCgroup creates the container's cgroup with its limits. The device
// list gets allow rules for the nodes the runtime itself creates.
func (c *creation) makeCgroup(cg *cgroups.Manager, cgPath string) error {
	var res *specs.LinuxResources
	if c.spec.Linux.Resources != nil {
		cp := *c.spec.Linux.Resources
		cp.Devices = deviceRules(c.spec)
		res = &cp
	}
	if err := cg.Create(res); err != nil {
		cg.Destroy()
		return fmt.Errorf("cgroup %s: %w", cgPath, err)
	}
	return nil
}

// makeFifo creates the exec fifo and returns its directory, which init
// reopens it relative to: that works after pivot_root or chroot, without
// a /proc, and in a user namespace.
func makeFifo(dir string) (*os.File, error) {
	fifoPath := filepath.Join(dir, fifoName)
	if err := unix.Mkfifo(fifoPath, 0o622); err != nil {
		return nil, fmt.Errorf("exec fifo: %w", err)
	}
	// Past the umask: the init may run as any user of any user namespace.
	if err := os.Chmod(fifoPath, 0o622); err != nil {
		return nil, err
	}
	return os.OpenFile(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
}

func childError(err error) error { return fmt.Errorf("create: %w", err) }

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
