package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/docker/go-units"

	nettypes "github.com/moby/moby/api/types/network"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/images"
	"github.com/berth-dev/berth/internal/shim"
	"github.com/berth-dev/berth/internal/snapshot"
	"github.com/berth-dev/berth/internal/specgen"
)

// fillDelay is how long after a start the next start's spare shim and
// network namespace are made.
const fillDelay = 5 * time.Millisecond

// ErrNotModified says the container already was in the asked state
// (Docker answers 304).
var ErrNotModified = errors.New("container already in that state")

// Start starts a created or stopped container.
func (s *Service) Start(ctx context.Context, term string) error {
	c, err := s.Get(term)
	if err != nil {
		return err
	}
	unlock := s.lock(c.ID)
	defer unlock()
	if c, err = s.Get(c.ID); err != nil {
		return err
	}
	switch c.State.Status {
	case StatusRunning, StatusPaused:
		return ErrNotModified
	case StatusRemoving, StatusDead:
		return errdefs.Conflict("container %s is marked for removal and cannot be started", c.ID[:12])
	}
	return s.start(ctx, c)
}

// start brings up a container; the caller holds its lock.
func (s *Service) start(ctx context.Context, c *Container) (err error) {
	// What the next start takes is made once this one is done, and a
	// moment later: a client's next calls (status, wait, attach) come at
	// once, and the CPUs are theirs.
	defer time.AfterFunc(fillDelay, func() {
		if s.Spares != nil {
			s.Spares.Fill()
		}
		if s.NonePool != nil {
			s.NonePool.Fill()
		}
		s.fillRootfs()
	})
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
			code := errdefs.StartExitCode(err.Error())
			s.update(c.ID, func(c *Container) error {
				c.Net = nil
				c.State.Error = err.Error()
				c.State.ExitCode = code
				if c.State.Status != StatusCreated {
					c.State.Status = StatusExited
				}
				return nil
			})
			if c.HostConfig.AutoRemove {
				// As Docker: a --rm container that cannot start is
				// removed (once the caller has let go of its lock).
				go s.Remove(context.Background(), c.ID, RemoveOptions{Force: true, Volumes: true})
			}
		}
	}()
	bundle := s.bundleDir(c.ID)
	rootfs := filepath.Join(bundle, "rootfs")
	// Mounted since the create, most often (see premount).
	premounted := false
	if ch := s.takePremount(c.ID); ch != nil {
		premounted = <-ch == nil
	}
	if err := os.MkdirAll(rootfs, 0o711); err != nil {
		return err
	}
	undo = append(undo, func() { os.RemoveAll(bundle) })
	// The shim starts now, in parallel with the rootfs, the network and the
	// spec: it only listens until the start op, which runs the container
	// (one runtime call, once pending attachments are connected).
	maxSize, maxFile, err := logLimits(c)
	if err != nil {
		return err
	}
	sd := s.shimDir(c.ID)
	s.waitShim(c.ID)
	os.RemoveAll(sd) // made by the launch, or a spare's moved there
	logPath, logFormat := s.logTarget(c)
	if logFormat == "cri" {
		if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
			return fmt.Errorf("start %s: log directory: %w", c.ID[:12], err)
		}
	}
	var launch sync.WaitGroup
	var launchErr error
	launch.Go(func() {
		lo := shim.LaunchOptions{
			Binary: s.Shim, ID: c.ID, Bundle: bundle, Runtime: s.Runtimes[c.Runtime], RuntimeRoot: s.runtimeRoot(),
			StateDir: sd, LogPath: logPath, LogFormat: logFormat, LogMaxSize: maxSize, LogMaxFiles: maxFile,
			TTY: c.Config.Tty, Stdin: c.Config.OpenStdin, ShimLog: filepath.Join(sd, "shim.log"),
			RunOnStart: true,
		}
		if s.Spares != nil && s.Spares.Take(lo) {
			return
		}
		launchErr = shim.Launch(lo)
	})
	undo = append(undo, func() {
		if launch.Wait(); launchErr != nil {
			return
		}
		if cl, err := shim.Dial(sd); err == nil {
			cl.Kill(syscall.SIGKILL, true)
			cl.Shutdown()
		}
	})
	if !premounted {
		if err := s.mountRootfs(ctx, c); err != nil {
			return fmt.Errorf("start %s: %w", c.ID[:12], err)
		}
	}
	undo = append(undo, func() { snapshot.UnmountAll(rootfs) })
	img, err := s.Images.Get(ctx, c.Image)
	if err != nil {
		return fmt.Errorf("start %s: image %s: %w", c.ID[:12], c.ImageRef, err)
	}
	cfg, err := s.Images.Config(ctx, img.Image)
	if err != nil {
		return fmt.Errorf("start %s: image config: %w", c.ID[:12], err)
	}
	exposed := map[nettypes.Port]struct{}{}
	for p := range c.Config.ExposedPorts {
		exposed[p] = struct{}{}
	}
	for _, e := range images.Defaults(cfg).ExposedPorts {
		if p, err := nettypes.ParsePort(e); err == nil {
			exposed[p] = struct{}{}
		}
	}
	if err := s.setupNetwork(ctx, c, exposed); err != nil {
		return fmt.Errorf("start %s: %w", c.ID[:12], err)
	}
	undo = append(undo, func() { s.teardownNetwork(c.ID) })
	noneNS := ""
	if kind, _ := netMode(c.HostConfig); kind == "none" && c.Pod == nil && s.NonePool != nil {
		if noneNS, err = s.NonePool.Take(c.ID); err != nil {
			return fmt.Errorf("start %s: %w", c.ID[:12], err)
		}
	}
	hostname, hosts, resolv, err := s.writeFiles(c)
	if err != nil {
		return errdefs.InvalidArgument("start %s: %v", c.ID[:12], err)
	}
	opts, err := s.specOptions(c, rootfs, hostname, hosts, resolv)
	if err != nil {
		return err
	}
	if noneNS != "" {
		opts.NetNSPath = noneNS
	}
	if opts.Mounts, err = s.specMounts(ctx, c, rootfs); err != nil {
		return err
	}
	def := images.Defaults(cfg)
	spec, err := specgen.Generate(specgen.Image{Env: def.Env, Entrypoint: def.Entrypoint, Cmd: def.Cmd, User: def.User,
		WorkingDir: def.WorkingDir, StopSignal: def.StopSignal, Volumes: def.Volumes, Labels: def.Labels}, opts)
	if err != nil {
		return err
	}
	// Docker creates a missing working directory.
	if cwd, err := securejoin.SecureJoin(rootfs, spec.Process.Cwd); err == nil {
		os.MkdirAll(cwd, 0o755)
	}
	raw, err := json.Marshal(spec) // for the runtime: not indented, a third faster
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), raw, 0o600); err != nil {
		return err
	}
	// The shim was launched at the top, alongside all of the above.
	if launch.Wait(); launchErr != nil {
		return fmt.Errorf("start %s: %w", c.ID[:12], launchErr)
	}
	cl := shim.Open(sd)
	s.connectPending(c.ID, cl)
	st, err := cl.Start()
	if err != nil {
		return fmt.Errorf("start %s: %w", c.ID[:12], err)
	}
	args := spec.Process.Args
	at := st.StartedAt // the shim's, taken before the process could exit
	if at.IsZero() {
		at = time.Now().UTC()
	}
	run := &started{State: State{Status: StatusRunning, Pid: st.Pid, StartedAt: at.UTC(), User: &spec.Process.User}}
	if len(args) > 0 {
		run.Path, run.Args = args[0], args[1:]
	}
	if st.Status == shim.StatusStopped {
		// Exited already (a short command, docker run --rm true): its
		// exit is recorded at once from the created state, one commit
		// where there would be two (running, then the exit).
		undo = nil
		shown := *c
		run.apply(&shown)
		go s.monitor(c, run)
		s.publish("start", &shown, nil)
		return nil
	}
	// The exit is watched from now: its handling waits for this start's
	// lock, so it finds the running state committed (or, when the commit
	// fails, nothing to do), and docker run --rm's waiter learns of it
	// without waiting for the commit (see exited).
	go s.monitor(c, nil)
	updated, err := s.update(c.ID, func(c *Container) error {
		c.State, c.Path, c.Args = run.State, run.Path, run.Args
		return nil
	})
	if err != nil {
		return err
	}
	undo = nil
	s.publish("start", updated, nil)
	return nil
}

// mountRootfs mounts c's writable layer at its bundle's rootfs.
func (s *Service) mountRootfs(ctx context.Context, c *Container) error {
	rootfs := filepath.Join(s.bundleDir(c.ID), "rootfs")
	if err := os.MkdirAll(rootfs, 0o711); err != nil {
		return err
	}
	ms, err := s.Snaps.Mounts(ctx, c.ID)
	if err != nil {
		return fmt.Errorf("writable layer: %w", err)
	}
	snapshot.UnmountAll(rootfs) // a mount left by a crash
	if p := c.Pod; p != nil && p.UserNS != "" {
		if len(p.UIDMap) == 0 || len(p.GIDMap) == 0 {
			return errdefs.InvalidArgument("user namespace %s without maps", p.UserNS)
		}
		err = snapshot.MountAllIDMapped(ms, rootfs, p.UserNS, int(p.UIDMap[0].HostID), int(p.GIDMap[0].HostID))
	} else if c.HostConfig.AutoRemove {
		// Thrown away at the exit: no sync of the disk when unmounted.
		if err = snapshot.MountAll(snapshot.Volatile(ms), rootfs); err != nil {
			err = snapshot.MountAll(ms, rootfs) // a kernel before 5.10
		}
	} else {
		err = snapshot.MountAll(ms, rootfs)
	}
	if err != nil {
		return fmt.Errorf("mount rootfs: %w", err)
	}
	return nil
}

// premount mounts c's rootfs in the background, right after its writable
// layer is made: docker run starts a container right after creating it,
// and the overlay mount (a millisecond or two, spent checking the upper
// filesystem) then overlaps the create's commit and the client's next
// requests. start takes the mount (takePremount); a removal of a container
// never started waits for it and unmounts (waitPremount).
func (s *Service) premount(c *Container) {
	ch := make(chan error, 1)
	s.mu.Lock()
	s.premounts[c.ID] = ch
	s.mu.Unlock()
	go func() {
		err := s.mountRootfs(context.Background(), c)
		if err == nil {
			makeMountpoints(filepath.Join(s.bundleDir(c.ID), "rootfs"))
		}
		ch <- err
	}()
}

// fileMountpoints are the files every container gets bind-mounted.
var fileMountpoints = []string{"/etc/hosts", "/etc/hostname", "/etc/resolv.conf"}

// makeMountpoints creates the files the runtime would create to bind the
// container's hosts, hostname and resolv.conf onto, where the image has
// none: the first file made in /etc copies the directory up into the
// writable layer, ~0.3 ms on the path of the start, which premount takes
// off it. Only in an existing directory, never through a symlink; what
// cannot be made here the runtime makes as before.
func makeMountpoints(rootfs string) {
	for _, p := range fileMountpoints {
		full, err := securejoin.SecureJoin(rootfs, p)
		if err != nil {
			continue
		}
		if fi, err := os.Lstat(filepath.Dir(full)); err != nil || !fi.IsDir() {
			continue
		}
		f, err := os.OpenFile(full, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o644)
		if err == nil {
			f.Close()
		}
	}
}

// takePremount returns where the result of c's premount arrives, if one
// was made and not taken yet.
func (s *Service) takePremount(id string) <-chan error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.premounts[id]
	if !ok {
		return nil
	}
	delete(s.premounts, id)
	return ch
}

// waitPremount lets a premount of id finish, so that what follows
// (unmounting, removing the bundle) comes after it.
func (s *Service) waitPremount(id string) {
	if ch := s.takePremount(id); ch != nil {
		<-ch
	}
}

func logLimits(c *Container) (int64, int, error) {
	lc := c.HostConfig.LogConfig
	if lc.Type != "" && lc.Type != "json-file" {
		return 0, 0, errdefs.NotImplemented("logging driver %q is not supported; use json-file", lc.Type)
	}
	var size int64 = -1
	files := 1
	if v := lc.Config["max-size"]; v != "" {
		n, err := units.RAMInBytes(v)
		if err != nil || n <= 0 {
			return 0, 0, errdefs.InvalidArgument("invalid log-opt max-size %q", v)
		}
		size = n
	}
	if v := lc.Config["max-file"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, 0, errdefs.InvalidArgument("invalid log-opt max-file %q: want a number >= 1", v)
		}
		files = n
	}
	return size, files, nil
}

// specOptions turns Docker's Config and HostConfig into specgen options.
func (s *Service) specOptions(c *Container, rootfs, hostname, hosts, resolv string) (specgen.Options, error) {
	h, cf := c.HostConfig, c.Config
	o := specgen.Options{
		ID: c.ID, Name: c.Name, Hostname: cf.Hostname, Domainname: cf.Domainname,
		Env: cf.Env, Entrypoint: cf.Entrypoint, EntrypointSet: cf.Entrypoint != nil, Cmd: cf.Cmd,
		User: cf.User, WorkingDir: cf.WorkingDir, Tty: cf.Tty, OpenStdin: cf.OpenStdin,
		Privileged: h.Privileged, ReadOnly: h.ReadonlyRootfs, InitPath: s.InitPath,
		CapAdd: h.CapAdd, CapDrop: h.CapDrop, SecurityOpt: h.SecurityOpt,
		Memory: h.Memory, MemorySwap: h.MemorySwap, MemoryReservation: h.MemoryReservation, NanoCPUs: h.NanoCPUs,
		CPUShares: h.CPUShares, CPUQuota: h.CPUQuota, CPUPeriod: h.CPUPeriod, CpusetCpus: h.CpusetCpus, CpusetMems: h.CpusetMems,
		BlkioWeight: h.BlkioWeight, ShmSize: h.ShmSize, Tmpfs: h.Tmpfs, Sysctls: h.Sysctls,
		NetworkMode: string(h.NetworkMode), IPCMode: string(h.IpcMode), PIDMode: string(h.PidMode), UTSMode: string(h.UTSMode),
		CgroupParent: h.CgroupParent, GroupAdd: h.GroupAdd, Labels: cf.Labels,
		HostsPath: hosts, HostnamePath: hostname, ResolvConfPath: resolv, Rootfs: rootfs,
		MaskedPaths: h.MaskedPaths, ReadonlyPaths: h.ReadonlyPaths,
	}
	if h.Init != nil {
		o.Init = *h.Init
	}
	if h.PidsLimit != nil {
		o.PidsLimit = *h.PidsLimit
	}
	if h.OomScoreAdj != 0 {
		v := h.OomScoreAdj
		o.OOMScoreAdj = &v
	}
	for _, u := range h.Ulimits {
		o.Ulimits = append(o.Ulimits, specgen.Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard})
	}
	for _, d := range h.Devices {
		o.Devices = append(o.Devices, specgen.Device{PathOnHost: d.PathOnHost, PathInContainer: d.PathInContainer, CgroupPermissions: d.CgroupPermissions})
	}
	if c.Net != nil {
		o.NetNSPath = c.Net.NetNS
	}
	if p := c.Pod; p != nil {
		// The pod's namespaces; "" is the node's.
		o.NetworkMode, o.NetNSPath = "host", ""
		if p.NetNS != "" {
			o.NetworkMode, o.NetNSPath = "", p.NetNS
		}
		o.IPCMode, o.UTSMode = "host", "host"
		if p.IPC != "" {
			o.IPCMode = "container:" + p.IPC
		}
		if p.UTS != "" {
			o.UTSMode = "container:" + p.UTS
		}
		if p.PID != "" {
			o.PIDMode = "container:" + p.PID
		}
		o.StrictGroups = p.StrictGroups
		o.UserNSPath, o.UIDMappings, o.GIDMappings = p.UserNS, p.UIDMap, p.GIDMap
	}
	// container:<id> modes join the namespace of that container's process.
	for _, ns := range []struct {
		mode, kind string
		set        func(string)
	}{
		{string(h.NetworkMode), "net", func(p string) { o.NetNSPath, o.NetworkMode = p, "" }},
		{string(h.IpcMode), "ipc", func(p string) { o.IPCMode = "container:" + p }},
		{string(h.PidMode), "pid", func(p string) { o.PIDMode = "container:" + p }},
	} {
		id, ok := strings.CutPrefix(ns.mode, "container:")
		if !ok {
			continue
		}
		other, err := s.Get(id)
		if err != nil {
			return o, err
		}
		if !other.State.Running() {
			return o, errdefs.Conflict("cannot join the %s namespace of a non running container: %s", ns.kind, id)
		}
		ns.set(fmt.Sprintf("/proc/%d/ns/%s", other.State.Pid, ns.kind))
	}
	return o, nil
}
