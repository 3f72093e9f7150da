package specgen

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The default seccomp profile, with Docker's semantics: everything not
// listed fails with EPERM; the list allows what ordinary programs use; the
// calls that reach kernel state no namespace isolates (modules, kexec,
// clocks, keyrings, accounting, swap, new namespaces, mounts, ...) are
// allowed only to containers granted the capability that would let them use
// the call anyway. The rules below are this project's own arrangement,
// grouped by what the calls do; a name the running kernel lacks is harmless.

// Errno values the profile returns (asm-generic, the same on every
// architecture the profile covers).
const (
	errnoEPERM  = 1
	errnoENOSYS = 38
)

// Namespace flags of clone(2) and unshare(2).
const (
	cloneNewNS     = 0x00020000
	cloneNewCgroup = 0x02000000
	cloneNewUTS    = 0x04000000
	cloneNewIPC    = 0x08000000
	cloneNewUser   = 0x10000000
	cloneNewPID    = 0x20000000
	cloneNewNet    = 0x40000000

	cloneNamespaces = cloneNewNS | cloneNewCgroup | cloneNewUTS | cloneNewIPC | cloneNewUser | cloneNewPID | cloneNewNet
)

// afVsock is the address family of virtio sockets, which reach the
// hypervisor and other guests rather than anything in the container.
const afVsock = 40

var defaultArchMap = []archMapping{
	{Arch: specs.ArchX86_64, SubArches: []specs.Arch{specs.ArchX86, specs.ArchX32}},
	{Arch: specs.ArchAARCH64, SubArches: []specs.Arch{specs.ArchARM}},
	{Arch: specs.ArchMIPS64, SubArches: []specs.Arch{specs.ArchMIPS, specs.ArchMIPS64N32}},
	{Arch: specs.ArchMIPS64N32, SubArches: []specs.Arch{specs.ArchMIPS, specs.ArchMIPS64}},
	{Arch: specs.ArchMIPSEL64, SubArches: []specs.Arch{specs.ArchMIPSEL, specs.ArchMIPSEL64N32}},
	{Arch: specs.ArchMIPSEL64N32, SubArches: []specs.Arch{specs.ArchMIPSEL, specs.ArchMIPSEL64}},
	{Arch: specs.ArchS390X, SubArches: []specs.Arch{specs.ArchS390}},
	{Arch: specs.ArchRISCV64},
	{Arch: specs.ArchPPC64LE},
	{Arch: specs.ArchLOONGARCH64},
}

// Syscalls every container may make, by topic.
var (
	allowFiles = []string{
		"access", "chdir", "chmod", "chown", "chown32", "close", "close_range", "copy_file_range",
		"creat", "dup", "dup2", "dup3", "faccessat", "faccessat2", "fadvise64", "fadvise64_64",
		"fallocate", "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat",
		"fcntl", "fcntl64", "fdatasync", "flock", "fstat", "fstat64", "fstatat64", "fstatfs",
		"fstatfs64", "fsync", "ftruncate", "ftruncate64", "futimesat", "getcwd", "getdents",
		"getdents64", "lchown", "lchown32", "link", "linkat", "_llseek", "lseek", "lstat", "lstat64",
		"mkdir", "mkdirat", "mknod", "mknodat", "name_to_handle_at", "newfstatat", "open", "openat",
		"openat2", "pipe", "pipe2", "pread64", "preadv", "preadv2", "pwrite64", "pwritev", "pwritev2",
		"read", "readahead", "readlink", "readlinkat", "readv", "rename", "renameat", "renameat2",
		"rmdir", "sendfile", "sendfile64", "splice", "stat", "stat64", "statfs", "statfs64", "statx",
		"symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "tee", "truncate", "truncate64",
		"umask", "unlink", "unlinkat", "utime", "utimensat", "utimensat_time64", "utimes", "vmsplice",
		"write", "writev",
	}
	allowXattrs = []string{
		"fgetxattr", "flistxattr", "fremovexattr", "fsetxattr", "getxattr", "lgetxattr", "listxattr",
		"llistxattr", "lremovexattr", "lsetxattr", "removexattr", "setxattr",
	}
	allowEvents = []string{
		"epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait", "epoll_pwait2",
		"epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "fanotify_mark", "inotify_add_watch",
		"inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel", "io_destroy", "io_getevents",
		"io_pgetevents", "io_pgetevents_time64", "io_setup", "io_submit", "ioctl", "_newselect", "poll",
		"ppoll", "ppoll_time64", "pselect6", "pselect6_time64", "select", "signalfd", "signalfd4",
		"timerfd_create", "timerfd_gettime", "timerfd_gettime64", "timerfd_settime",
		"timerfd_settime64",
	}
	allowMemory = []string{
		"brk", "madvise", "membarrier", "memfd_create", "memfd_secret", "mincore", "mlock", "mlock2",
		"mlockall", "mmap", "mmap2", "mprotect", "mremap", "msync", "munlock", "munlockall", "munmap",
		"pkey_alloc", "pkey_free", "pkey_mprotect", "remap_file_pages",
	}
	allowProcesses = []string{
		"capget", "capset", "execve", "execveat", "exit", "exit_group", "fork", "get_robust_list",
		"getcpu", "getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups",
		"getgroups32", "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getresgid",
		"getresgid32", "getresuid", "getresuid32", "getrlimit", "getrusage", "getsid", "gettid",
		"getuid", "getuid32", "ioprio_get", "ioprio_set", "landlock_add_rule",
		"landlock_create_ruleset", "landlock_restrict_self", "pidfd_open", "pidfd_send_signal",
		"prctl", "prlimit64", "process_mrelease", "restart_syscall", "rseq", "sched_get_priority_max",
		"sched_get_priority_min", "sched_getaffinity", "sched_getattr", "sched_getparam",
		"sched_getscheduler", "sched_rr_get_interval", "sched_rr_get_interval_time64",
		"sched_setaffinity", "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield",
		"seccomp", "set_robust_list", "set_tid_address", "setfsgid", "setfsgid32", "setfsuid",
		"setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setpgid", "setpriority",
		"setregid", "setregid32", "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid",
		"setreuid32", "setrlimit", "setsid", "setuid", "setuid32", "ugetrlimit", "uname", "vfork",
		"wait4", "waitid", "waitpid",
	}
	allowSignals = []string{
		"alarm", "kill", "pause", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo",
		"rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64",
		"rt_tgsigqueueinfo", "sigaltstack", "sigprocmask", "sigreturn", "tgkill", "tkill",
	}
	allowTime = []string{
		// adjtimex only reads unless CAP_SYS_TIME; the kernel checks that.
		"adjtimex", "clock_getres", "clock_getres_time64", "clock_gettime", "clock_gettime64",
		"clock_nanosleep", "clock_nanosleep_time64", "getitimer", "gettimeofday", "nanosleep",
		"setitimer", "time", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime",
		"timer_gettime64", "timer_settime", "timer_settime64", "times",
	}
	allowSync = []string{
		"futex", "futex_time64", "futex_waitv",
	}
	allowIPC = []string{
		"ipc", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64",
		"mq_timedsend", "mq_timedsend_time64", "mq_unlink", "msgctl", "msgget", "msgrcv", "msgsnd",
		"semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "shmat", "shmctl", "shmdt",
		"shmget",
	}
	allowNetwork = []string{
		"accept", "accept4", "bind", "connect", "getpeername", "getsockname", "getsockopt", "listen",
		"recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "send", "sendmmsg", "sendmsg",
		"sendto", "setsockopt", "shutdown", "socketcall", "socketpair",
	}
	allowMisc = []string{
		"get_thread_area", "getrandom", "set_thread_area", "sysinfo",
	}
)

// Syscalls granted with a capability, beyond the default set.
var (
	needSysAdmin = []string{
		"bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
		"lookup_dcookie", "mount", "mount_setattr", "move_mount", "open_tree", "perf_event_open",
		"pivot_root", "quotactl", "quotactl_fd", "setdomainname", "sethostname", "setns", "syslog",
		"umount", "umount2", "unshare",
	}
	needSysBoot   = []string{"kexec_file_load", "kexec_load", "reboot"}
	needSysChroot = []string{"chroot"}
	needSysModule = []string{"delete_module", "finit_module", "init_module"}
	needSysPacct  = []string{"acct"}
	needSysPtrace = []string{
		"kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace",
	}
	needSysRawio = []string{"iopl", "ioperm"}
	needSysTime  = []string{
		"clock_adjtime", "clock_adjtime64", "clock_settime", "clock_settime64", "settimeofday", "stime",
	}
	needSysTTYConfig   = []string{"vhangup"}
	needSysNice        = []string{"get_mempolicy", "mbind", "move_pages", "set_mempolicy", "set_mempolicy_home_node"}
	needSyslog         = []string{"syslog"}
	needBPF            = []string{"bpf"}
	needPerfmon        = []string{"perf_event_open"}
	needDacReadSearch  = []string{"open_by_handle_at"}
	needSysPtraceFault = []string{"userfaultfd"}
)

func allow(names ...[]string) profileRule {
	var all []string
	for _, n := range names {
		all = append(all, n...)
	}
	return profileRule{Names: all, Action: specs.ActAllow}
}

func withCap(c string, names []string) profileRule {
	r := allow(names)
	r.Includes = &ruleFilter{Caps: []string{c}}
	return r
}

func onArches(arches []string, names ...string) profileRule {
	r := allow(names)
	r.Includes = &ruleFilter{Arches: arches}
	return r
}

func argEq(index uint, value uint64) []specs.LinuxSeccompArg {
	return []specs.LinuxSeccompArg{{Index: index, Value: value, Op: specs.OpEqualTo}}
}

// defaultProfile builds a fresh copy each time: resolve does not change it,
// but callers of parseProfile own what they get, and so do these.
func defaultProfile() *profile {
	eperm, enosys := uint(errnoEPERM), uint(errnoENOSYS)
	rules := []profileRule{
		allow(allowFiles, allowXattrs, allowEvents, allowMemory, allowProcesses, allowSignals,
			allowTime, allowSync, allowIPC, allowNetwork, allowMisc),
	}

	// socket(2) in every family but vsock.
	rules = append(rules, profileRule{
		Names: []string{"socket"}, Action: specs.ActAllow,
		Args: []specs.LinuxSeccompArg{{Index: 0, Value: afVsock, Op: specs.OpNotEqual}},
	})

	// personality(2): only the Linux personality, its 32-bit variant, the
	// UNAME26 compatibility flag, and the query.
	for _, persona := range []uint64{0x0, 0x0008, 0x20000, 0x20008, 0xffffffff} {
		rules = append(rules, profileRule{
			Names: []string{"personality"}, Action: specs.ActAllow, Args: argEq(0, persona),
		})
	}

	// Architecture-specific calls.
	rules = append(rules,
		onArches([]string{"amd64", "x32", "x86", "386"}, "arch_prctl", "modify_ldt"),
		onArches([]string{"arm", "arm64"}, "arm_fadvise64_64", "arm_sync_file_range", "breakpoint",
			"cacheflush", "set_tls", "sync_file_range2"),
		onArches([]string{"ppc64le"}, "sync_file_range2", "swapcontext"),
		onArches([]string{"s390", "s390x"}, "s390_pci_mmio_read", "s390_pci_mmio_write",
			"s390_runtime_instr"),
		onArches([]string{"riscv64"}, "riscv_flush_icache", "riscv_hwprobe"),
	)

	// clone(2) without namespace flags unless CAP_SYS_ADMIN; the flags are
	// argument 0, except on s390 where they are argument 1.
	rules = append(rules,
		profileRule{
			Names: []string{"clone"}, Action: specs.ActAllow,
			Args:     []specs.LinuxSeccompArg{{Index: 0, Value: cloneNamespaces, ValueTwo: 0, Op: specs.OpMaskedEqual}},
			Excludes: &ruleFilter{Caps: []string{"CAP_SYS_ADMIN"}, Arches: []string{"s390", "s390x"}},
		},
		profileRule{
			Names: []string{"clone"}, Action: specs.ActAllow,
			Args:     []specs.LinuxSeccompArg{{Index: 1, Value: cloneNamespaces, ValueTwo: 0, Op: specs.OpMaskedEqual}},
			Includes: &ruleFilter{Arches: []string{"s390", "s390x"}},
			Excludes: &ruleFilter{Caps: []string{"CAP_SYS_ADMIN"}},
		},
		// clone3 passes its flags in memory, where seccomp cannot look:
		// ENOSYS makes the C libraries fall back to clone.
		profileRule{
			Names: []string{"clone3"}, Action: specs.ActErrno, ErrnoRet: &enosys,
			Excludes: &ruleFilter{Caps: []string{"CAP_SYS_ADMIN"}},
		},
	)

	// Since 4.8 seccomp runs again after a tracer changes a syscall, so
	// tracing cannot bypass the filter any more; ptrace is then as safe as
	// the kernel's own ptrace access checks.
	ptrace := allow(needSysPtrace)
	ptrace.Includes = &ruleFilter{MinKernel: "4.8"}
	rules = append(rules, ptrace)

	rules = append(rules,
		withCap("CAP_SYS_ADMIN", needSysAdmin),
		withCap("CAP_SYS_BOOT", needSysBoot),
		withCap("CAP_SYS_CHROOT", needSysChroot),
		withCap("CAP_SYS_MODULE", needSysModule),
		withCap("CAP_SYS_PACCT", needSysPacct),
		withCap("CAP_SYS_PTRACE", needSysPtrace),
		withCap("CAP_SYS_PTRACE", needSysPtraceFault),
		withCap("CAP_SYS_RAWIO", needSysRawio),
		withCap("CAP_SYS_TIME", needSysTime),
		withCap("CAP_SYS_TTY_CONFIG", needSysTTYConfig),
		withCap("CAP_SYS_NICE", needSysNice),
		withCap("CAP_SYSLOG", needSyslog),
		withCap("CAP_BPF", needBPF),
		withCap("CAP_PERFMON", needPerfmon),
		withCap("CAP_DAC_READ_SEARCH", needDacReadSearch),
	)
	return &profile{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: &eperm,
		ArchMap:         cloneArchMap(defaultArchMap),
		Syscalls:        rules,
	}
}

func cloneArchMap(in []archMapping) []archMapping {
	out := make([]archMapping, len(in))
	for i, m := range in {
		out[i] = archMapping{Arch: m.Arch, SubArches: append([]specs.Arch(nil), m.SubArches...)}
	}
	return out
}
