package oci

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/linux/caps"
	"github.com/berth-dev/berth/internal/linux/procattr"
	"github.com/berth-dev/berth/internal/linux/seccomp"
)

// rlimitNames maps OCI rlimit names to RLIMIT_* numbers.
var rlimitNames = map[string]int{
	"RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
	"RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9,
	"RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13,
	"RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

type execProcess struct {
	path      string
	args, env []string
	late      []lateLimit // set just before execve
}

// lateLimit is an rlimit that would starve the init's own Go runtime of
// memory (RLIMIT_AS, RLIMIT_DATA): it is set at the last moment, when
// lowering a limit needs no privilege.
type lateLimit struct {
	resource int
	lim      unix.Rlimit
}

// lateRlimits are the resources setting late keeps from the init.
var lateRlimits = map[int]bool{unix.RLIMIT_AS: true, unix.RLIMIT_DATA: true}

// prepareProcess does everything between the finished rootfs and execve, in
// the order the kernel's rules force: things that need privilege first,
// then the user switch, capabilities, and seccomp last (or before the user
// switch when no_new_privs is off, since loading a filter then needs
// CAP_SYS_ADMIN).
func prepareProcess(cfg *initConfig, console *os.File) (*execProcess, error) {
	p := cfg.Process
	// Back to the runtime's priority (see boost); the spec's scheduler
	// settings, if any, come after.
	_ = unix.Setpriority(unix.PRIO_PROCESS, 0, cfg.Nice)
	// Nothing but stdio and the preserved fds may cross into the container.
	// Marked now, before seccomp could forbid close_range.
	if err := cloexecFrom(3 + cfg.PreserveFDs); err != nil {
		return nil, err
	}
	var late []lateLimit
	for _, rl := range p.Rlimits {
		res := rlimitNames[rl.Type]
		lim := syscall.Rlimit{Cur: rl.Soft, Max: rl.Hard}
		if lateRlimits[res] {
			// Only a raise of the hard limit needs privilege: that much
			// now, the limit itself at execve.
			var cur syscall.Rlimit
			if err := syscall.Getrlimit(res, &cur); err == nil && rl.Hard > cur.Max {
				raise := syscall.Rlimit{Cur: min(cur.Cur, rl.Hard), Max: rl.Hard}
				if err := syscall.Setrlimit(res, &raise); err != nil {
					return nil, fmt.Errorf("setrlimit %s (soft %d, hard %d): %w", rl.Type, rl.Soft, rl.Hard, err)
				}
			}
			late = append(late, lateLimit{res, unix.Rlimit{Cur: rl.Soft, Max: rl.Hard}})
			continue
		}
		// syscall.Setrlimit (not a raw prlimit) so the Go runtime does not
		// restore its own NOFILE value at exec.
		if err := syscall.Setrlimit(res, &lim); err != nil {
			return nil, fmt.Errorf("setrlimit %s (soft %d, hard %d): %w", rl.Type, rl.Soft, rl.Hard, err)
		}
	}
	if console != nil {
		if err := takeConsole(console); err != nil {
			return nil, err
		}
		console.Close()
	}
	if err := unix.Chdir(p.Cwd); err != nil {
		return nil, fmt.Errorf("process.cwd %s: %w", p.Cwd, err)
	}
	env := p.Env
	path, err := lookPath(p.Args[0], env)
	if err != nil {
		return nil, err
	}
	if p.OOMScoreAdj != nil && cfg.Exec {
		setOOMScoreAdj("self", *p.OOMScoreAdj)
	}
	var sc []byte = cfg.Seccomp
	// Scheduler and I/O class may need CAP_SYS_NICE: before the drop.
	if err := procattr.ApplyLate(p); err != nil {
		return nil, err
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return nil, fmt.Errorf("keep capabilities: %w", err)
	}
	if err := caps.DropBounding(p.Capabilities); err != nil {
		return nil, err
	}
	if sc != nil && !p.NoNewPrivileges {
		if err := loadSeccomp(cfg); err != nil {
			return nil, err
		}
		sc = nil
	}
	if err := setUser(cfg); err != nil {
		return nil, err
	}
	if err := caps.Apply(p.Capabilities); err != nil {
		return nil, err
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
		return nil, err
	}
	if p.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return nil, fmt.Errorf("no_new_privs: %w", err)
		}
	}
	if sc != nil {
		if err := loadSeccomp(cfg); err != nil {
			return nil, err
		}
	}
	return &execProcess{path: path, args: p.Args, env: env, late: late}, nil
}

func loadSeccomp(cfg *initConfig) error {
	var f seccomp.Filter
	if err := f.UnmarshalBinary(cfg.Seccomp); err != nil {
		return fmt.Errorf("seccomp filter from parent: %w", err)
	}
	fd, err := f.Load()
	if err != nil {
		return err
	}
	if fd >= 0 {
		// The listener is a host path, out of our reach after pivot_root:
		// the parent forwards the notify fd to it.
		defer unix.Close(fd)
		if cfg.SeccompFD < 0 {
			return fmt.Errorf("linux.seccomp: notify fd but no channel to the runtime")
		}
		if err := unix.Sendmsg(cfg.SeccompFD, []byte("seccomp"), unix.UnixRights(fd), nil, 0); err != nil {
			return fmt.Errorf("send seccomp notify fd: %w", err)
		}
	}
	return nil
}

func setUser(cfg *initConfig) error {
	u := cfg.Process.User
	umask := 0o022
	if u.Umask != nil {
		umask = int(*u.Umask)
	}
	unix.Umask(umask)
	gids := make([]int, len(u.AdditionalGids))
	for i, g := range u.AdditionalGids {
		gids[i] = int(g)
	}
	// Raw, per-thread calls: we exec from this locked thread, and execve
	// takes its credentials; Go's all-threads variants would signal every
	// runtime thread three times.
	if err := setgroups(gids); err != nil && !(len(gids) == 0 && errors.Is(err, unix.EPERM)) {
		return fmt.Errorf("process.user.additionalGids: setgroups: %w", err)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(u.GID), uintptr(u.GID), uintptr(u.GID)); e != 0 {
		return fmt.Errorf("process.user.gid %d: %w", u.GID, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(u.UID), uintptr(u.UID), uintptr(u.UID)); e != 0 {
		return fmt.Errorf("process.user.uid %d: %w", u.UID, e)
	}
	return nil
}

func setgroups(gids []int) error {
	list := make([]uint32, len(gids))
	for i, g := range gids {
		list[i] = uint32(g)
	}
	var p unsafe.Pointer
	if len(list) > 0 {
		p = unsafe.Pointer(&list[0])
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(list)), uintptr(p), 0); e != 0 {
		return e
	}
	return nil
}

// lookPath resolves the executable the way execvp would, with the
// container's PATH, so a missing binary fails `create` and not `start`.
func lookPath(file string, env []string) (string, error) {
	check := func(p string) error {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		if fi.IsDir() || fi.Mode()&0o111 == 0 {
			return fmt.Errorf("%s is not an executable file", p)
		}
		return nil
	}
	if strings.Contains(file, "/") {
		if err := check(file); err != nil {
			return "", fmt.Errorf("process.args[0]: exec %q: %w", file, err)
		}
		return file, nil
	}
	pathEnv := defaultPath
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			pathEnv = v
		}
	}
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, file)
		if check(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("process.args[0]: exec %q: executable file not found in $PATH", file)
}

func (p *execProcess) exec() error {
	if len(p.late) > 0 {
		// Once the limits are set the runtime cannot map more memory,
		// and execve's argument copies still need some: make room in the
		// heap first (allocated, dropped, collected: the pages stay).
		need := len(p.path) + 1 + 8*(len(p.args)+len(p.env)+2)
		for _, a := range p.args {
			need += len(a) + 1
		}
		for _, e := range p.env {
			need += len(e) + 1
		}
		room := make([]byte, 2*need+256<<10)
		room[len(room)-1] = 1
		room = nil
		runtime.GC()
	}
	for _, l := range p.late {
		// Raw: the limit may leave the runtime no room to grow.
		if _, _, e := unix.RawSyscall6(unix.SYS_PRLIMIT64, 0, uintptr(l.resource), uintptr(unsafe.Pointer(&l.lim)), 0, 0, 0); e != 0 {
			return fmt.Errorf("setrlimit %d (soft %d, hard %d): %w", l.resource, l.lim.Cur, l.lim.Max, e)
		}
	}
	err := unix.Exec(p.path, p.args, p.env)
	return fmt.Errorf("exec %s: %w", p.path, err)
}

// cloexecFrom marks every fd >= lowest close-on-exec.
func cloexecFrom(lowest int) error {
	if unix.CloseRange(uint(lowest), ^uint(0), unix.CLOSE_RANGE_CLOEXEC) == nil {
		return nil
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("list fds: %w", err)
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd < lowest {
			continue
		}
		unix.CloseOnExec(fd)
	}
	return nil
}

func setOOMScoreAdj(pid string, v int) {
	_ = os.WriteFile("/proc/"+pid+"/oom_score_adj", []byte(fmt.Sprint(v)), 0)
}
