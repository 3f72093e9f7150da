//go:build linux && cgo

package seccomp

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"runtime"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

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
	key = fmt.Appendf(nil, "%s%d.%d.%d %v %s opt%d\n", wireMagic, major, minor, micro, native, runtime.GOARCH, optimizeLevel)
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

// Warm does ahead of time what only a process's first CompileCached of s
// pays: the kernel's and libseccomp's feature probes, the lookup of s's
// syscall names (a cgo call and a scan of libseccomp's table each) and the
// JSON codec of profiles. A runtime that sits waiting for a container (a
// spare berth-shim-rt) calls it meanwhile.
func Warm(s *specs.LinuxSeccomp) {
	if _, err := compile(s); err == nil {
		cacheKey("", s)
	}
}
