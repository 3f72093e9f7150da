//go:build linux && cgo

package seccomp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// The kernel tests load real filters, which cannot be undone, so each runs
// in a child: the test binary re-executed with childEnv naming the child
// function and -test.run matching nothing. Children print "key=value" lines.
const childEnv = "BERTH_SECCOMP_TEST_CHILD"

var children = map[string]func() error{
	"errno":       childErrno,
	"killprocess": childKillProcess,
	"trap":        childTrap,
	"trace":       childTrace,
	"log":         childLog,
	"args":        childArgs,
	"tsync":       childTSYNC,
	"gorun":       childGoRun,
	"gorun-exec":  childGoRunExec,
	"notify":      childNotify,
}

func TestMain(m *testing.M) {
	if name := os.Getenv(childEnv); name != "" {
		fn, ok := children[name]
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown child %q\n", name)
			os.Exit(3)
		}
		if err := fn(); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runChild re-executes the test binary as child name and returns its stdout
// as key=value pairs and its wait error.
func runChild(t *testing.T, name string, env ...string) (map[string]string, string, error) {
	t.Helper()
	if !Enabled() {
		t.Skip("kernel without seccomp filters")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), childEnv+"="+name), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	kv := map[string]string{}
	for _, line := range strings.Split(stdout.String(), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			kv[k] = v
		}
	}
	return kv, stderr.String(), err
}

func expectKV(t *testing.T, got map[string]string, stderr string, err error, want map[string]string) {
	t.Helper()
	if err != nil {
		t.Fatalf("child failed: %v\nstdout: %v\nstderr: %s", err, got, stderr)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
}

// enter prepares the child's thread as an OCI runtime would, then loads s.
func enter(s *specs.LinuxSeccomp) (int, error) {
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return -1, err
	}
	fd, err := Load(s)
	fmt.Printf("fd=%d\n", fd)
	return fd, err
}

// result formats a raw syscall outcome: "ok" or the errno name.
func result(_ uintptr, e unix.Errno) string {
	if e == 0 {
		return "ok"
	}
	return unix.ErrnoName(e)
}

func getcwd() (uintptr, unix.Errno) {
	buf := make([]byte, 4096)
	r, _, e := unix.Syscall(unix.SYS_GETCWD, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0)
	runtime.KeepAlive(buf)
	return r, e
}

// atFDCWD is AT_FDCWD (-100) as a syscall argument.
var atFDCWD = uintptr(^uint(99))

func report(k, v string) { fmt.Printf("%s=%s\n", k, v) }

// result3 is result for unix.Syscall's three values.
func result3(r, _ uintptr, e unix.Errno) string { return result(r, e) }

// ---- ERRNO ----

func childErrno() error {
	_, err := enter(&specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"getcwd"}, Action: specs.ActErrno, ErrnoRet: ptr(uint(unix.EXDEV))},
			{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno},
		},
	})
	if err != nil {
		return err
	}
	report("getcwd", result(getcwd()))
	dir, _ := unix.BytePtrFromString(filepath.Join(os.Getenv("DIR"), "x"))
	r, _, e := unix.Syscall(unix.SYS_MKDIRAT, atFDCWD, uintptr(unsafe.Pointer(dir)), 0o755)
	report("mkdir", result(r, e))
	report("getpid", result3(unix.Syscall(unix.SYS_GETPID, 0, 0, 0)))
	return nil
}

func TestKernelErrno(t *testing.T) {
	dir := t.TempDir()
	kv, stderr, err := runChild(t, "errno", "DIR="+dir)
	expectKV(t, kv, stderr, err, map[string]string{"fd": "-1", "getcwd": "EXDEV", "mkdir": "EPERM", "getpid": "ok"})
	if _, err := os.Stat(filepath.Join(dir, "x")); err == nil {
		t.Error("mkdir went through")
	}
}

// ---- KILL_PROCESS ----

func childKillProcess() error {
	if _, err := enter(&specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"getcwd"}, Action: specs.ActKillProcess}},
	}); err != nil {
		return err
	}
	getcwd()
	fmt.Println("survived=yes")
	return nil
}

func TestKernelKillProcess(t *testing.T) {
	kv, stderr, err := runChild(t, "killprocess")
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("child was not killed: %v %v %s", err, kv, stderr)
	}
	ws := ee.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != unix.SIGSYS {
		t.Fatalf("child ended with %v, want SIGSYS; %v %s", ws, kv, stderr)
	}
	if kv["fd"] != "-1" || kv["survived"] != "" {
		t.Fatalf("output %v", kv)
	}
}

// ---- TRAP ----

func childTrap() error {
	if _, err := enter(&specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"getcwd"}, Action: specs.ActTrap}},
	}); err != nil {
		return err
	}
	getcwd()
	fmt.Println("survived=yes")
	return nil
}

func TestKernelTrap(t *testing.T) {
	kv, stderr, err := runChild(t, "trap")
	// The Go runtime turns the SIGSYS from SECCOMP_RET_TRAP into a crash.
	if err == nil || !strings.Contains(stderr, "SIGSYS") || kv["survived"] != "" {
		t.Fatalf("want a SIGSYS crash, got %v %v\n%s", err, kv, stderr)
	}
}

// ---- TRACE and LOG ----

func childTrace() error {
	if _, err := enter(&specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"getcwd"}, Action: specs.ActTrace, ErrnoRet: ptr(uint(77))}},
	}); err != nil {
		return err
	}
	report("getcwd", result(getcwd())) // no tracer attached: the kernel fails it with ENOSYS
	return nil
}

func TestKernelTrace(t *testing.T) {
	kv, stderr, err := runChild(t, "trace")
	expectKV(t, kv, stderr, err, map[string]string{"getcwd": "ENOSYS"})
}

func childLog() error {
	if _, err := enter(&specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Syscalls: []specs.LinuxSyscall{
			{Names: broadAllow, Action: specs.ActAllow},
			{Names: []string{"getpriority"}, Action: specs.ActLog},
		},
	}); err != nil {
		return err
	}
	report("getpriority", result3(unix.Syscall(unix.SYS_GETPRIORITY, unix.PRIO_PROCESS, 0, 0)))
	report("sysinfo", result(sysinfo()))
	return nil
}

func sysinfo() (uintptr, unix.Errno) {
	var si unix.Sysinfo_t
	r, _, e := unix.Syscall(unix.SYS_SYSINFO, uintptr(unsafe.Pointer(&si)), 0, 0)
	return r, e
}

func TestKernelLog(t *testing.T) {
	kv, stderr, err := runChild(t, "log")
	expectKV(t, kv, stderr, err, map[string]string{"getpriority": "ok", "sysinfo": "EPERM"})
}

// ---- argument conditions, every operator ----

func childArgs() error {
	deny := func(name string, errno unix.Errno, args ...specs.LinuxSeccompArg) specs.LinuxSyscall {
		return specs.LinuxSyscall{Names: []string{name}, Action: specs.ActErrno, ErrnoRet: ptr(uint(errno)), Args: args}
	}
	arg := func(idx uint, op specs.LinuxSeccompOperator, v, v2 uint64) specs.LinuxSeccompArg {
		return specs.LinuxSeccompArg{Index: idx, Op: op, Value: v, ValueTwo: v2}
	}
	if _, err := enter(&specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32, specs.ArchAARCH64, specs.ArchARM},
		Syscalls: []specs.LinuxSyscall{
			deny("personality", unix.EXDEV, arg(0, specs.OpEqualTo, 0xffffffff, 0)),
			deny("umask", unix.EACCES, arg(0, specs.OpMaskedEqual, 0o700, 0o700)),
			// Same index twice: either value matches; arg1 is ANDed.
			deny("getpriority", unix.ENOTTY,
				arg(0, specs.OpEqualTo, unix.PRIO_PGRP, 0), arg(0, specs.OpEqualTo, unix.PRIO_USER, 0),
				arg(1, specs.OpEqualTo, 4242, 0)),
			deny("close", unix.ENOTTY, arg(0, specs.OpGreaterThan, 900000, 0)),
			deny("fsync", unix.ENOTTY, arg(0, specs.OpGreaterEqual, 900000, 0)),
			deny("fdatasync", unix.ENOTTY, arg(0, specs.OpLessThan, 500000, 0)),
			deny("syncfs", unix.ENOTTY, arg(0, specs.OpLessEqual, 500000, 0)),
			deny("fchdir", unix.ENOTTY, arg(0, specs.OpNotEqual, 900000, 0)),
		},
	}); err != nil {
		return err
	}
	sys1 := func(nr, a uintptr) (uintptr, unix.Errno) { r, _, e := unix.Syscall(nr, a, 0, 0); return r, e }
	report("personality-query", result(sys1(unix.SYS_PERSONALITY, 0xffffffff)))
	report("umask-755", result(sys1(unix.SYS_UMASK, 0o755)))
	report("umask-777", result(sys1(unix.SYS_UMASK, 0o777)))
	report("umask-077", result(sys1(unix.SYS_UMASK, 0o077)))
	report("umask-600", result(sys1(unix.SYS_UMASK, 0o600)))
	prio := func(which, who uintptr) (uintptr, unix.Errno) {
		r, _, e := unix.Syscall(unix.SYS_GETPRIORITY, which, who, 0)
		return r, e
	}
	report("prio-pgrp-4242", result(prio(unix.PRIO_PGRP, 4242)))
	report("prio-user-4242", result(prio(unix.PRIO_USER, 4242)))
	report("prio-pgrp-0", result(prio(unix.PRIO_PGRP, 0)))
	report("close-900001", result(sys1(unix.SYS_CLOSE, 900001)))
	report("close-900000", result(sys1(unix.SYS_CLOSE, 900000)))
	report("fsync-900000", result(sys1(unix.SYS_FSYNC, 900000)))
	report("fsync-899999", result(sys1(unix.SYS_FSYNC, 899999)))
	report("fdatasync-499999", result(sys1(unix.SYS_FDATASYNC, 499999)))
	report("fdatasync-900000", result(sys1(unix.SYS_FDATASYNC, 900000)))
	report("syncfs-500000", result(sys1(unix.SYS_SYNCFS, 500000)))
	report("syncfs-500001", result(sys1(unix.SYS_SYNCFS, 500001)))
	report("fchdir-12345", result(sys1(unix.SYS_FCHDIR, 12345)))
	report("fchdir-900000", result(sys1(unix.SYS_FCHDIR, 900000)))
	return nil
}

func TestKernelArgs(t *testing.T) {
	kv, stderr, err := runChild(t, "args")
	expectKV(t, kv, stderr, err, map[string]string{
		"personality-query": "EXDEV",
		"umask-755":         "EACCES", "umask-777": "EACCES", "umask-077": "ok", "umask-600": "ok",
		"prio-pgrp-4242": "ENOTTY", "prio-user-4242": "ENOTTY", "prio-pgrp-0": "ok",
		"close-900001": "ENOTTY", "close-900000": "EBADF",
		"fsync-900000": "ENOTTY", "fsync-899999": "EBADF",
		"fdatasync-499999": "ENOTTY", "fdatasync-900000": "EBADF",
		"syncfs-500000": "ENOTTY", "syncfs-500001": "EBADF",
		"fchdir-12345": "ENOTTY", "fchdir-900000": "EBADF",
	})
}

// ---- flags: TSYNC reaches other threads, LOG and SPEC_ALLOW load ----

func childTSYNC() error {
	runtime.LockOSThread()
	start, done := make(chan struct{}), make(chan string)
	go func() { // a goroutine pinned to another thread, alive before Load
		runtime.LockOSThread()
		<-start
		done <- result(getcwd())
	}()
	s := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Flags:         []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow},
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"getcwd"}, Action: specs.ActErrno}},
	}
	if os.Getenv("TSYNC") == "1" {
		s.Flags = append(s.Flags, flagTSYNC)
	}
	if _, err := enter(s); err != nil {
		return err
	}
	report("this-thread", result(getcwd()))
	close(start)
	fmt.Printf("other-thread=%s\n", <-done)
	return nil
}

func TestKernelTSYNC(t *testing.T) {
	kv, stderr, err := runChild(t, "tsync", "TSYNC=1")
	expectKV(t, kv, stderr, err, map[string]string{"this-thread": "EPERM", "other-thread": "EPERM"})
	kv, stderr, err = runChild(t, "tsync", "TSYNC=0")
	expectKV(t, kv, stderr, err, map[string]string{"this-thread": "EPERM", "other-thread": "ok"})
}

// ---- a Go program under a default-deny profile ----

func childGoRun() error {
	if _, err := enter(defaultLikeProfile(uint(unix.ENOTSUP))); err != nil {
		return err
	}
	env := []string{childEnv + "=gorun-exec"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, childEnv+"=") {
			env = append(env, kv)
		}
	}
	return syscall.Exec(os.Args[0], []string{os.Args[0], "-test.run=^$"}, env)
}

// childGoRunExec is a fresh Go program started under the filter: it
// exercises the scheduler, the GC, timers, files and pipes.
func childGoRunExec() error {
	results := make(chan int)
	for i := range 8 {
		go func() {
			buf := make([][]byte, 0, 64)
			for j := range 64 {
				buf = append(buf, make([]byte, 4096*(j+1)))
			}
			time.Sleep(time.Millisecond)
			results <- i + len(buf)
		}()
	}
	sum := 0
	for range 8 {
		sum += <-results
	}
	runtime.GC()
	dir, err := os.MkdirTemp("", "seccomp-gorun")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "f")
	if err := os.WriteFile(path, []byte("hello"), 0o600); err != nil {
		return err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := exec.Command("/bin/sh", "-c", "echo child-process").Output()
	if err != nil {
		return fmt.Errorf("exec: %w", err)
	}
	fmt.Printf("goroutines=%d\nfile=%s\nexec=%s\n", sum, b, strings.TrimSpace(string(out)))
	report("sysinfo", result(sysinfo()))
	return nil
}

func TestKernelGoProgramUnderDefaultDeny(t *testing.T) {
	kv, stderr, err := runChild(t, "gorun")
	expectKV(t, kv, stderr, err, map[string]string{
		"goroutines": strconv.Itoa(8*64 + 28), "file": "hello", "exec": "child-process", "sysinfo": "ENOTSUP",
	})
}

// ---- NOTIFY, end to end with SendNotifyFD and this test as the agent ----

func childNotify() error {
	s := &specs.LinuxSeccomp{
		DefaultAction:    specs.ActAllow,
		ListenerPath:     os.Getenv("LISTENER"),
		ListenerMetadata: "agent-metadata",
		Syscalls:         []specs.LinuxSyscall{{Names: []string{"getppid"}, Action: specs.ActNotify}},
	}
	if os.Getenv("WAITKILL") == "1" {
		s.Flags = []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagWaitKillableRecv}
	}
	fd, err := enter(s)
	if err != nil {
		return err
	}
	state, err := ListenerState(s, os.Getpid(), specs.State{
		Version: specs.Version, ID: "c1", Status: specs.StateCreating, Pid: os.Getpid(), Bundle: "/bundle",
	})
	if err != nil {
		return err
	}
	if err := SendNotifyFD(s.ListenerPath, fd, state); err != nil {
		return err
	}
	unix.Close(fd) // the agent holds the only copy now
	r, _, e := unix.Syscall(unix.SYS_GETPPID, 0, 0, 0)
	if e != 0 {
		fmt.Printf("getppid=%s\n", unix.ErrnoName(e))
	} else {
		fmt.Printf("getppid=%d\n", r)
	}
	return nil
}

func TestKernelNotify(t *testing.T) {
	for _, waitKill := range []bool{false, true} {
		t.Run(fmt.Sprintf("waitkillable=%v", waitKill), func(t *testing.T) {
			if waitKill && !contains(Features().SupportedFlags, string(specs.LinuxSeccompFlagWaitKillableRecv)) {
				t.Skip("kernel without SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV")
			}
			if !kernelHasAction(unix.SECCOMP_RET_USER_NOTIF) {
				t.Skip("kernel without SECCOMP_RET_USER_NOTIF")
			}
			testNotify(t, waitKill)
		})
	}
}

func testNotify(t *testing.T, waitKill bool) {
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ln.SetDeadline(time.Now().Add(30 * time.Second))

	type childResult struct {
		kv     map[string]string
		stderr string
		err    error
	}
	resc := make(chan childResult, 1)
	go func() {
		env := []string{"LISTENER=" + sock, "WAITKILL=0"}
		if waitKill {
			env[1] = "WAITKILL=1"
		}
		kv, stderr, err := runChild(t, "notify", env...)
		resc <- childResult{kv, stderr, err}
	}()

	conn, err := ln.AcceptUnix()
	if err != nil {
		r := <-resc
		t.Fatalf("accept: %v; child: %v %v %s", err, r.err, r.kv, r.stderr)
	}
	payload, fds := readAll(t, conn)
	conn.Close()
	var st specs.ContainerProcessState
	if err := json.Unmarshal(payload, &st); err != nil {
		t.Fatalf("state %q: %v", payload, err)
	}
	if len(fds) != 1 || len(st.Fds) != 1 || st.Fds[0] != specs.SeccompFdName {
		t.Fatalf("fds %v, names %v", fds, st.Fds)
	}
	if st.Metadata != "agent-metadata" || st.State.ID != "c1" || st.Pid == 0 || st.Version != specs.Version {
		t.Fatalf("state %+v", st)
	}
	notifyFD := fds[0]
	defer unix.Close(notifyFD)

	pfd := []unix.PollFd{{Fd: int32(notifyFD), Events: unix.POLLIN}}
	if n, err := unix.Poll(pfd, 30000); err != nil || n != 1 {
		t.Fatalf("poll: %d %v", n, err)
	}
	req, err := libseccomp.NotifReceive(libseccomp.ScmpFd(notifyFD))
	if err != nil {
		t.Fatal(err)
	}
	if name, _ := req.Data.Syscall.GetNameByArch(req.Data.Arch); name != "getppid" {
		t.Errorf("notified syscall %q, want getppid", name)
	}
	if int(req.Pid) != st.Pid {
		t.Errorf("notification from pid %d, state says %d", req.Pid, st.Pid)
	}
	if err := libseccomp.NotifRespond(libseccomp.ScmpFd(notifyFD), &libseccomp.ScmpNotifResp{ID: req.ID, Val: 4242}); err != nil {
		t.Fatal(err)
	}
	r := <-resc
	expectKV(t, r.kv, r.stderr, r.err, map[string]string{"getppid": "4242"})
	if fd, _ := strconv.Atoi(r.kv["fd"]); fd < 0 || r.kv["fd"] == "" {
		t.Errorf("Load returned fd %q", r.kv["fd"])
	}
}

// readAll reads one connection to EOF, collecting SCM_RIGHTS fds.
func readAll(t *testing.T, conn *net.UnixConn) ([]byte, []int) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	var payload []byte
	var fds []int
	buf, oob := make([]byte, 4096), make([]byte, unix.CmsgSpace(4*4))
	for {
		n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		payload = append(payload, buf[:n]...)
		if oobn > 0 {
			msgs, perr := unix.ParseSocketControlMessage(oob[:oobn])
			if perr != nil {
				t.Fatal(perr)
			}
			for _, m := range msgs {
				got, perr := unix.ParseUnixRights(&m)
				if perr != nil {
					t.Fatal(perr)
				}
				fds = append(fds, got...)
			}
		}
		if err != nil || n == 0 {
			return payload, fds
		}
	}
}
