//go:build linux && cgo

package seccomp

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"runtime"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// wireMagic starts a marshalled Filter; bump the digit if the layout changes.
const wireMagic = "berth-seccomp-1\n"

// MarshalBinary encodes f for another process (or the cache):
// magic, flags (u32), notify (u8), instruction count (u32), instructions.
func (f *Filter) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, len(wireMagic)+9+8*len(f.prog))
	b = append(b, wireMagic...)
	b = binary.LittleEndian.AppendUint32(b, uint32(f.flags))
	if f.notify {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(f.prog)))
	for _, ins := range f.prog {
		b = binary.LittleEndian.AppendUint16(b, ins.Code)
		b = append(b, ins.Jt, ins.Jf)
		b = binary.LittleEndian.AppendUint32(b, ins.K)
	}
	return b, nil
}

// UnmarshalBinary decodes what MarshalBinary produced.
func (f *Filter) UnmarshalBinary(b []byte) error {
	bad := errors.New("linux.seccomp: malformed compiled filter")
	if len(b) < len(wireMagic)+9 || string(b[:len(wireMagic)]) != wireMagic {
		return bad
	}
	b = b[len(wireMagic):]
	flags := uint(binary.LittleEndian.Uint32(b))
	notify := b[4]
	n := int(binary.LittleEndian.Uint32(b[5:]))
	b = b[9:]
	if notify > 1 || n == 0 || n > maxInstructions || len(b) != 8*n {
		return bad
	}
	prog := make([]unix.SockFilter, n)
	for i := range prog {
		ins := b[8*i:]
		prog[i] = unix.SockFilter{
			Code: binary.LittleEndian.Uint16(ins),
			Jt:   ins[2], Jf: ins[3],
			K: binary.LittleEndian.Uint32(ins[4:]),
		}
	}
	*f = Filter{prog: prog, flags: flags, notify: notify == 1}
	return nil
}

// CompileCached is Compile with an on-disk cache of programs in dir (created
// 0700 if missing; it should be private to the runtime, e.g. under its state
// root). The profile is still validated on every call; only the expensive
// BPF generation is skipped when an identical profile was compiled before by
// the same libseccomp on the same architecture. Cache trouble is never fatal:
// the filter is then built afresh. Entries are never evicted; there is one
// per distinct profile.
func CompileCached(dir string, s *specs.LinuxSeccomp) (*Filter, error) {
	p, err := compile(s)
	if err != nil || p == nil {
		return nil, err
	}
	path, key, keyErr := cacheKey(dir, s)
	if keyErr == nil {
		keyErr = privateDir(dir)
	}
	if keyErr == nil {
		if b, err := os.ReadFile(path); err == nil {
			if f, ok := decodeEntry(b, key); ok && f.flags == p.flags && f.notify == p.notify {
				return f, nil
			}
		}
	}
	prog, err := p.bpf()
	if err != nil {
		return nil, err
	}
	f := &Filter{prog: prog, flags: p.flags, notify: p.notify}
	if keyErr == nil {
		_ = writeCache(dir, path, key, f)
	}
	return f, nil
}

// cacheKey names a cache entry: the full key is stored in the entry and
// compared on every hit, so the file name only needs a cheap hash (FNV;
// a cryptographic hash would put its package initialisation on every
// runtime invocation).
func cacheKey(dir string, s *specs.LinuxSeccomp) (path string, key []byte, err error) {
	js, err := json.Marshal(s)
	if err != nil {
		return "", nil, err
	}
	major, minor, micro := libseccomp.GetLibraryVersion()
	native, err := libseccomp.GetNativeArch()
	if err != nil {
		return "", nil, err
	}
	key = fmt.Appendf(nil, "%s%d.%d.%d %v %s\n", wireMagic, major, minor, micro, native, runtime.GOARCH)
	key = append(key, js...)
	h := fnv.New128a()
	h.Write(key)
	return filepath.Join(dir, hex.EncodeToString(h.Sum(nil))+".bpf"), key, nil
}

// entry is key length (u32), key, then the marshalled filter.
func encodeEntry(key []byte, f *Filter) ([]byte, error) {
	prog, err := f.MarshalBinary()
	if err != nil {
		return nil, err
	}
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(key)))
	b = append(b, key...)
	return append(b, prog...), nil
}

func decodeEntry(b, key []byte) (*Filter, bool) {
	if len(b) < 4 {
		return nil, false
	}
	n := int(binary.LittleEndian.Uint32(b))
	if n != len(key) || len(b) < 4+n || !bytes.Equal(b[4:4+n], key) {
		return nil, false
	}
	var f Filter
	if f.UnmarshalBinary(b[4+n:]) != nil {
		return nil, false
	}
	return &f, true
}

// privateDir creates dir if needed and refuses one that others could write
// to: a planted program would be installed as the container's filter.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Uid != uint32(os.Geteuid()) || st.Mode&0o022 != 0 {
		return fmt.Errorf("seccomp cache %s is not a private directory", dir)
	}
	return nil
}

func writeCache(dir, path string, key []byte, f *Filter) error {
	b, err := encodeEntry(key, f)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}
