package cgroups

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
)

// ptr64 is an aligned_u64 pointer field of union bpf_attr, kept as an
// unsafe.Pointer so the garbage collector sees it. That matches the
// kernel's layout only with 64-bit pointers; loadDeviceProgram refuses to
// run elsewhere.
type ptr64 struct{ p unsafe.Pointer }

const ptrIs64 = unsafe.Sizeof(uintptr(0)) == 8

// The parts of union bpf_attr this file uses.
type progLoadAttr struct {
	progType           uint32
	insnCnt            uint32
	insns              ptr64
	license            ptr64
	logLevel           uint32
	logSize            uint32
	logBuf             ptr64
	kernVersion        uint32
	progFlags          uint32
	progName           [16]byte
	progIfindex        uint32
	expectedAttachType uint32
}

type progAttachAttr struct {
	targetFd     uint32
	attachBpfFd  uint32
	attachType   uint32
	attachFlags  uint32
	replaceBpfFd uint32
}

type progQueryAttr struct {
	targetFd    uint32
	attachType  uint32
	queryFlags  uint32
	attachFlags uint32
	progIDs     ptr64
	progCnt     uint32
	_           uint32
}

type getFDByIDAttr struct {
	id        uint32
	nextID    uint32
	openFlags uint32
}

func bpf(cmd int, attr unsafe.Pointer, size uintptr) (int, error) {
	for try := 0; ; try++ {
		r, _, errno := unix.Syscall(unix.SYS_BPF, uintptr(cmd), uintptr(attr), size)
		if (errno == unix.EINTR || errno == unix.EAGAIN) && try < 5 {
			continue
		}
		if errno != 0 {
			return -1, errno
		}
		return int(r), nil
	}
}

var license = []byte("Apache-2.0\x00")

// loadDeviceProgram loads prog as a BPF_PROG_TYPE_CGROUP_DEVICE program and
// returns its fd. On a verifier error it loads again with a log to say why.
func loadDeviceProgram(prog []insn) (int, error) {
	if !ptrIs64 {
		return -1, fmt.Errorf("cgroups: cgroup v2 device filters need a 64-bit platform: %w", errdefs.ErrNotImplemented)
	}
	code := encode(prog)
	attr := progLoadAttr{
		progType: unix.BPF_PROG_TYPE_CGROUP_DEVICE,
		insnCnt:  uint32(len(prog)),
		insns:    ptr64{p: unsafe.Pointer(&code[0])},
		license:  ptr64{p: unsafe.Pointer(&license[0])},
	}
	copy(attr.progName[:], "berth_dev")
	fd, err := bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if err == nil {
		runtime.KeepAlive(code)
		return fd, nil
	}
	log := make([]byte, 64<<10)
	attr.logLevel, attr.logSize, attr.logBuf = 1, uint32(len(log)), ptr64{p: unsafe.Pointer(&log[0])}
	if fd, err2 := bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr)); err2 == nil {
		return fd, nil // loaded the second time; keep it
	}
	runtime.KeepAlive(code)
	msg := strings.TrimRight(string(log[:clen(log)]), "\n")
	if msg != "" {
		return -1, fmt.Errorf("cgroups: load device filter: %w: %s", err, lastLines(msg, 5))
	}
	return -1, fmt.Errorf("cgroups: load device filter: %w", err)
}

func clen(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return len(b)
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "; ")
}

// attachDeviceRules loads the filter for rules and attaches it to the
// cgroup directory dir (BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI). Programs
// attached there before are detached after the new one is in place, so
// there is no moment without a filter.
func attachDeviceRules(dir string, rules []specs.LinuxDeviceCgroup) error {
	progFD, err := loadDeviceProgram(deviceProgram(rules))
	if err != nil {
		return err
	}
	defer unix.Close(progFD)
	dirFD, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(dirFD)

	old := attachedDevicePrograms(dirFD)
	attach := progAttachAttr{
		targetFd:    uint32(dirFD),
		attachBpfFd: uint32(progFD),
		attachType:  unix.BPF_CGROUP_DEVICE,
		attachFlags: unix.BPF_F_ALLOW_MULTI,
	}
	if _, err := bpf(unix.BPF_PROG_ATTACH, unsafe.Pointer(&attach), unsafe.Sizeof(attach)); err != nil {
		return fmt.Errorf("cgroups: attach device filter to %s: %w", dir, err)
	}
	for _, id := range old {
		get := getFDByIDAttr{id: id}
		fd, err := bpf(unix.BPF_PROG_GET_FD_BY_ID, unsafe.Pointer(&get), unsafe.Sizeof(get))
		if err != nil {
			continue // already gone
		}
		detach := progAttachAttr{targetFd: uint32(dirFD), attachBpfFd: uint32(fd), attachType: unix.BPF_CGROUP_DEVICE}
		_, err = bpf(unix.BPF_PROG_DETACH, unsafe.Pointer(&detach), unsafe.Sizeof(detach))
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("cgroups: detach old device filter %d from %s: %w", id, dir, err)
		}
	}
	return nil
}

// attachedDevicePrograms lists the ids of device programs attached directly
// to the cgroup (nil if the kernel cannot say).
func attachedDevicePrograms(dirFD int) []uint32 {
	ids := make([]uint32, 64)
	q := progQueryAttr{
		targetFd:   uint32(dirFD),
		attachType: unix.BPF_CGROUP_DEVICE,
		progIDs:    ptr64{p: unsafe.Pointer(&ids[0])},
		progCnt:    uint32(len(ids)),
	}
	if _, err := bpf(unix.BPF_PROG_QUERY, unsafe.Pointer(&q), unsafe.Sizeof(q)); err != nil {
		return nil
	}
	return ids[:min(int(q.progCnt), len(ids))]
}
