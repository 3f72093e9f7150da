//go:build linux && cgo

package seccomp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// optimizeLevel is libseccomp's SCMP_FLTATR_CTL_OPTIMIZE: 2 is a binary
// tree of syscall numbers.
const optimizeLevel = 2

// newFilter builds the libseccomp filter for p. The caller releases it.
func (p *program) newFilter() (*libseccomp.ScmpFilter, error) {
	f, err := libseccomp.NewFilter(p.defaultAction)
	if err != nil {
		return nil, fmt.Errorf("linux.seccomp: creating filter: %w", err)
	}
	// A binary tree of syscall numbers rather than a chain of tests: the
	// kernel runs the filter through every syscall number when it is
	// loaded (to cache the always-allowed ones), which on a chain of a
	// few hundred tests is a good part of a millisecond per container.
	// Not fatal where libseccomp is older than 2.5 (the chain then).
	_ = f.SetOptimize(optimizeLevel)
	if err := p.fill(f); err != nil {
		f.Release()
		return nil, err
	}
	return f, nil
}

func (p *program) fill(f *libseccomp.ScmpFilter) error {
	for _, arch := range p.arches {
		if err := f.AddArch(arch); err != nil {
			// EDOM: libseccomp cannot mix this arch with the native one
			// (other endianness); no process here can use that ABI natively.
			if errors.Is(err, syscall.EDOM) {
				continue
			}
			return fmt.Errorf("linux.seccomp.architectures: adding %v: %w", arch, err)
		}
	}
	for _, r := range p.rules {
		var err error
		if len(r.conds) == 0 {
			err = f.AddRule(r.call, r.action)
		} else {
			for _, c := range r.conds {
				if err = f.AddRuleConditional(r.call, r.action, c); err != nil {
					break
				}
			}
		}
		if err != nil {
			return fmt.Errorf("linux.seccomp.syscalls[%d].names[%d]: adding rule for %q: %w", r.entry, r.index, r.name, err)
		}
	}
	return nil
}

// Compile validates s (as Validate does) and builds its BPF program without
// loading it. A nil s yields a nil Filter. For a default-like profile on
// three x86 ABIs this takes milliseconds, almost all inside libseccomp's
// BPF generator.
func Compile(s *specs.LinuxSeccomp) (*Filter, error) {
	p, err := compile(s)
	if err != nil || p == nil {
		return nil, err
	}
	prog, err := p.bpf()
	if err != nil {
		return nil, err
	}
	return &Filter{prog: prog, flags: p.flags, notify: p.notify}, nil
}

// bpf builds p and returns the kernel program.
func (p *program) bpf() ([]unix.SockFilter, error) {
	f, err := p.newFilter()
	if err != nil {
		return nil, err
	}
	defer f.Release()
	raw, err := exportBPF(f)
	if err != nil {
		return nil, fmt.Errorf("linux.seccomp: exporting filter: %w", err)
	}
	return decodeBPF(raw)
}

// exportBPF returns the raw program. libseccomp >= 2.6 can write to memory;
// older ones only to an fd, so a pipe drained by a goroutine stands in.
func exportBPF(f *libseccomp.ScmpFilter) ([]byte, error) {
	if raw, err := f.ExportBPFMem(); err == nil {
		return raw, nil
	}
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		return nil, fmt.Errorf("pipe: %w", err)
	}
	r := os.NewFile(uintptr(fds[0]), "seccomp-bpf-r")
	w := os.NewFile(uintptr(fds[1]), "seccomp-bpf-w")
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := io.ReadAll(r)
		r.Close()
		done <- result{b, err}
	}()
	err := f.ExportBPF(w)
	w.Close()
	res := <-done
	if err != nil {
		return nil, err
	}
	return res.b, res.err
}

// decodeBPF turns libseccomp's output (struct sock_filter in host byte
// order) into instructions.
func decodeBPF(raw []byte) ([]unix.SockFilter, error) {
	const size = 8
	if len(raw) == 0 || len(raw)%size != 0 {
		return nil, fmt.Errorf("linux.seccomp: libseccomp produced a malformed program (%d bytes)", len(raw))
	}
	n := len(raw) / size
	if n > maxInstructions {
		return nil, fmt.Errorf("linux.seccomp: filter needs %d BPF instructions, the kernel allows %d", n, maxInstructions)
	}
	prog := make([]unix.SockFilter, n)
	for i := range prog {
		b := raw[i*size:]
		prog[i] = unix.SockFilter{
			Code: binary.NativeEndian.Uint16(b[0:2]),
			Jt:   b[2],
			Jf:   b[3],
			K:    binary.NativeEndian.Uint32(b[4:8]),
		}
	}
	return prog, nil
}
