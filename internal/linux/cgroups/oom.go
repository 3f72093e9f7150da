package cgroups

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// OOMWatcher reports out-of-memory kills in the container's cgroup as they
// happen: an eventfd on memory.oom_control on v1, inotify on memory.events
// (oom_kill counter) on v2.
type OOMWatcher struct {
	fd    int // eventfd (v1) or inotify fd (v2)
	v2    string
	count uint64
}

// WatchOOM starts watching. Close releases it.
func (m *Manager) WatchOOM() (*OOMWatcher, error) {
	dir := m.Path("memory")
	if dir == "" {
		return nil, fmt.Errorf("cgroups: no memory controller")
	}
	if m.version == 2 {
		return watchV2(filepath.Join(dir, "memory.events"))
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	ctl, err := os.Open(filepath.Join(dir, "memory.oom_control"))
	if err != nil {
		unix.Close(efd)
		return nil, err
	}
	defer ctl.Close()
	reg := fmt.Sprintf("%d %d", efd, ctl.Fd())
	if err := os.WriteFile(filepath.Join(dir, "cgroup.event_control"), []byte(reg), 0); err != nil {
		unix.Close(efd)
		return nil, fmt.Errorf("register oom event: %w", err)
	}
	return &OOMWatcher{fd: efd}, nil
}

func watchV2(events string) (*OOMWatcher, error) {
	ifd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
	if err != nil {
		return nil, err
	}
	if _, err := unix.InotifyAddWatch(ifd, events, unix.IN_MODIFY); err != nil {
		unix.Close(ifd)
		return nil, err
	}
	w := &OOMWatcher{fd: ifd, v2: events}
	w.count, _ = oomKills(events)
	return w, nil
}

// Wait blocks until the next OOM kill, or returns an error once the cgroup
// is gone (v1: the eventfd fires on removal too; the caller checks).
func (w *OOMWatcher) Wait() error {
	buf := make([]byte, 4096)
	for {
		n, err := unix.Read(w.fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if w.v2 == "" {
			if n == 8 && binary.LittleEndian.Uint64(buf) > 0 {
				return nil
			}
			continue
		}
		c, err := oomKills(w.v2)
		if err != nil {
			return err
		}
		if c > w.count {
			w.count = c
			return nil
		}
	}
}

// Close stops watching.
func (w *OOMWatcher) Close() error { return unix.Close(w.fd) }

func oomKills(events string) (uint64, error) {
	b, err := os.ReadFile(events)
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := bytes.Cut(sc.Bytes(), []byte(" "))
		if ok && string(k) == "oom_kill" {
			return strconv.ParseUint(string(v), 10, 64)
		}
	}
	return 0, nil
}
