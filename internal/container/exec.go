package container

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	securejoin "github.com/cyphar/filepath-securejoin"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/shim"
)

// ExecConfig is what POST /containers/{id}/exec asks for.
type ExecConfig struct {
	Cmd        []string
	Env        []string
	WorkingDir string
	User       string
	Tty        bool
	Stdin      bool
	Privileged bool
}

// Exec is one exec instance (Docker keeps them until the container goes).
type Exec struct {
	ID          string
	ContainerID string
	Config      ExecConfig
	Running     bool
	Started     bool
	Pid         int
	ExitCode    *int
}

type execTable struct {
	mu sync.Mutex
	m  map[string]*Exec
}

var execs = execTable{m: map[string]*Exec{}}

// CreateExec registers an exec in a running container.
func (s *Service) CreateExec(term string, cfg ExecConfig) (string, error) {
	c, err := s.Get(term)
	if err != nil {
		return "", err
	}
	if !c.State.Running() {
		return "", errdefs.Conflict("container %s is not running", c.ID)
	}
	if c.State.Status == StatusPaused {
		return "", errdefs.Conflict("container %s is paused, unpause the container before exec", c.ID)
	}
	if len(cfg.Cmd) == 0 {
		return "", errdefs.InvalidArgument("no exec command specified")
	}
	if _, err := s.execProcess(c, cfg); err != nil { // unknown user, ...: say so now
		return "", err
	}
	id := newID()
	execs.mu.Lock()
	execs.m[id] = &Exec{ID: id, ContainerID: c.ID, Config: cfg}
	execs.mu.Unlock()
	s.update(c.ID, func(c *Container) error { c.ExecIDs = append(c.ExecIDs, id); return nil })
	s.publish("exec_create", c, map[string]string{"execID": id})
	return id, nil
}

// InspectExec returns an exec's state.
func (s *Service) InspectExec(id string) (Exec, error) {
	execs.mu.Lock()
	defer execs.mu.Unlock()
	e, ok := execs.m[id]
	if !ok {
		return Exec{}, errdefs.NotFound("No such exec instance: %s", id)
	}
	return *e, nil
}

// StartExec runs the exec and connects user to its stdio until it ends
// (user nil: detached).
func (s *Service) StartExec(ctx context.Context, id string, user io.ReadWriteCloser) (err error) {
	execs.mu.Lock()
	e, ok := execs.m[id]
	if ok && e.Started {
		execs.mu.Unlock()
		return errdefs.Conflict("exec %s has already been started", id)
	}
	if ok {
		e.Started = true
	}
	execs.mu.Unlock()
	if !ok {
		return errdefs.NotFound("No such exec instance: %s", id)
	}
	streaming := false
	defer func() {
		if err != nil && user != nil && !streaming {
			// The stream is already the client's: report there, and
			// give the exec a status (126, as Docker for "cannot run").
			fmt.Fprintf(user, "%s\n", err)
			code := 126
			execs.mu.Lock()
			e.Running, e.ExitCode = false, &code
			execs.mu.Unlock()
		}
	}()
	c, err := s.Get(e.ContainerID)
	if err != nil {
		return err
	}
	proc, err := s.execProcess(c, e.Config)
	if err != nil {
		return err
	}
	cl, err := shim.Dial(s.shimDir(c.ID))
	if err != nil {
		return err
	}
	pid, conn, err := cl.Exec(id, proc, e.Config.Tty, e.Config.Stdin && user != nil)
	if err != nil {
		return err
	}
	execs.mu.Lock()
	e.Running, e.Pid = true, pid
	execs.mu.Unlock()
	s.publish("exec_start", c, map[string]string{"execID": id})
	finish := func() {
		st, err := cl.ExecState(id)
		execs.mu.Lock()
		e.Running = false
		if err == nil {
			code := st.ExitCode
			e.ExitCode = &code
		}
		execs.mu.Unlock()
		s.publish("exec_die", c, map[string]string{"execID": id})
	}
	if user == nil {
		go func() {
			io.Copy(io.Discard, conn)
			conn.Close()
			finish()
		}()
		return nil
	}
	streaming = true
	err = splice(ctx, conn, user, e.Config.Stdin)
	finish()
	return err
}

// ResizeExec sets an exec's terminal size.
func (s *Service) ResizeExec(id string, height, width int) error {
	e, err := s.InspectExec(id)
	if err != nil {
		return err
	}
	cl, err := shim.Dial(s.shimDir(e.ContainerID))
	if err != nil {
		return err
	}
	return cl.ExecResize(id, width, height)
}

// execProcess derives the exec's process from the container's: same
// capabilities, seccomp and limits, the exec's command, env, cwd and user.
func (s *Service) execProcess(c *Container, cfg ExecConfig) (specs.Process, error) {
	raw, err := os.ReadFile(filepath.Join(s.bundleDir(c.ID), "config.json"))
	if err != nil {
		return specs.Process{}, fmt.Errorf("exec: container spec: %w", err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(raw, &spec); err != nil || spec.Process == nil {
		return specs.Process{}, fmt.Errorf("exec: container spec: %v", err)
	}
	p := *spec.Process
	p.Args = cfg.Cmd
	p.Terminal = cfg.Tty
	p.ConsoleSize = nil
	env := map[string]int{}
	for i, kv := range p.Env {
		k, _, _ := strings.Cut(kv, "=")
		env[k] = i
	}
	for _, kv := range cfg.Env {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := env[k]; ok {
			p.Env[i] = kv
		} else {
			p.Env = append(p.Env, kv)
		}
	}
	if _, ok := env["TERM"]; cfg.Tty && !ok {
		p.Env = append(p.Env, "TERM=xterm")
	}
	if cfg.WorkingDir != "" {
		p.Cwd = cfg.WorkingDir
	}
	if cfg.User != "" {
		u, err := lookupUser(filepath.Join(s.bundleDir(c.ID), "rootfs"), cfg.User)
		if err != nil {
			return specs.Process{}, err
		}
		p.User = u
	}
	if cfg.Privileged && p.Capabilities != nil {
		p.Capabilities.Bounding = append(p.Capabilities.Bounding, allCaps...)
		p.Capabilities.Effective = p.Capabilities.Bounding
		p.Capabilities.Permitted = p.Capabilities.Bounding
	}
	return p, nil
}

var allCaps = []string{"CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_TIME", "CAP_SYS_NICE", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_DAC_READ_SEARCH", "CAP_LINUX_IMMUTABLE", "CAP_NET_BROADCAST", "CAP_SYS_PACCT", "CAP_SYS_BOOT", "CAP_LEASE", "CAP_AUDIT_CONTROL", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ"}

// lookupUser resolves exec -u (uid, uid:gid, name, name:group) in the
// container's passwd and group files.
func lookupUser(rootfs, spec string) (specs.User, error) {
	name, group, hasGroup := strings.Cut(spec, ":")
	u := specs.User{}
	if n, err := strconv.ParseUint(name, 10, 32); err == nil {
		u.UID, u.GID = uint32(n), uint32(n)
		if e, ok := findEntry(rootfs, "/etc/passwd", func(f []string) bool { return len(f) > 3 && f[2] == name }); ok {
			if g, err := strconv.ParseUint(e[3], 10, 32); err == nil {
				u.GID = uint32(g)
			}
		}
	} else {
		e, ok := findEntry(rootfs, "/etc/passwd", func(f []string) bool { return len(f) > 3 && f[0] == name })
		if !ok {
			return u, errdefs.InvalidArgument("unable to find user %s: no matching entries in passwd file", name)
		}
		uid, _ := strconv.ParseUint(e[2], 10, 32)
		gid, _ := strconv.ParseUint(e[3], 10, 32)
		u.UID, u.GID = uint32(uid), uint32(gid)
	}
	if hasGroup {
		if n, err := strconv.ParseUint(group, 10, 32); err == nil {
			u.GID = uint32(n)
		} else {
			e, ok := findEntry(rootfs, "/etc/group", func(f []string) bool { return len(f) > 2 && f[0] == group })
			if !ok {
				return u, errdefs.InvalidArgument("unable to find group %s: no matching entries in group file", group)
			}
			gid, _ := strconv.ParseUint(e[2], 10, 32)
			u.GID = uint32(gid)
		}
	}
	return u, nil
}

func findEntry(rootfs, file string, match func([]string) bool) ([]string, bool) {
	p, err := securejoin.SecureJoin(rootfs, file)
	if err != nil {
		return nil, false
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, 4<<20))
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if match(fields) {
			return fields, true
		}
	}
	return nil, false
}

// forgetExecs drops the exec records of a removed container.
func forgetExecs(containerID string) {
	execs.mu.Lock()
	defer execs.mu.Unlock()
	for id, e := range execs.m {
		if e.ContainerID == containerID {
			delete(execs.m, id)
		}
	}
}
