//go:build !berthinit

// Package oci is the engine of berth-oci: it keeps the state directory of
// each container and orchestrates create, start, exec, kill and delete over
// the kernel plumbing in internal/linux.
package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
)

// Status values of the OCI state.
const (
	Creating = "creating"
	Created  = "created"
	Running  = "running"
	Paused   = "paused"
	Stopped  = "stopped"
)

const (
	stateFile  = "state.json"
	configFile = "config.json"
)

// Record is what berth-oci keeps about a container between invocations.
type Record struct {
	ID          string            `json:"id"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Pid         int               `json:"pid"`
	StartTime   uint64            `json:"start_time"` // /proc/<pid>/stat field 22, guards against pid reuse
	Created     time.Time         `json:"created"`
	Owner       string            `json:"owner"`
	Annotations map[string]string `json:"annotations,omitempty"`
	CgroupPath  string            `json:"cgroup_path"`
	CgroupPaths map[string]string `json:"cgroup_paths"`
	Systemd     bool              `json:"systemd,omitempty"`
	// OwnPidNS: killing the init kills every process; otherwise kill walks the cgroup.
	OwnPidNS bool `json:"own_pid_ns"`
}

// Store is the --root directory.
type Store struct{ Root string }

// idChar: letters, digits and _ + - . (no regexp: package inits cost
// every invocation of a short-lived runtime).
func idChar(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '+' || c == '-' || c == '.'
}

// ValidateID rejects ids that could not be a directory name of their own.
func ValidateID(id string) error {
	switch {
	case id == "":
		return errdefs.InvalidArgument("container id: must not be empty")
	case len(id) > 1024:
		return errdefs.InvalidArgument("container id: longer than 1024 bytes")
	case id == "." || id == ".." || strings.IndexFunc(id, func(c rune) bool { return !idChar(c) }) >= 0:
		return errdefs.InvalidArgument("container id %q: only letters, digits, '_', '+', '-' and '.' are allowed", id)
	}
	return nil
}

func (s Store) dir(id string) string { return filepath.Join(s.Root, id) }

// Load reads a container's record and its saved spec.
func (s Store) Load(id string) (*Record, *specs.Spec, error) {
	if err := ValidateID(id); err != nil {
		return nil, nil, err
	}
	b, err := os.ReadFile(filepath.Join(s.dir(id), stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, errdefs.NotFound("container %q does not exist", id)
	}
	if err != nil {
		return nil, nil, err
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, nil, fmt.Errorf("state of %s: %w", id, err)
	}
	spec, err := readSpec(filepath.Join(s.dir(id), configFile))
	if err != nil {
		return nil, nil, err
	}
	return &r, spec, nil
}

func readSpec(path string) (*specs.Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var spec specs.Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		return nil, errdefs.InvalidArgument("%s: %v", path, err)
	}
	return &spec, nil
}

// List returns the ids under the root, sorted by name.
func (s Store) List() ([]string, error) {
	ents, err := os.ReadDir(s.Root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range ents {
		if e.IsDir() {
			if _, err := os.Stat(filepath.Join(s.Root, e.Name(), stateFile)); err == nil {
				ids = append(ids, e.Name())
			}
		}
	}
	return ids, nil
}

// writeFileAtomic replaces path with data in one rename.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func (s Store) save(r *Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(s.dir(r.ID), stateFile), b, 0o600)
}

// procStartTime returns field 22 of /proc/<pid>/stat and the process state.
func procStartTime(pid int) (uint64, byte, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// The command name may contain spaces and parentheses: parse after the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 >= len(b) {
		return 0, 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	fields := strings.Fields(string(b[i+2:]))
	if len(fields) < 20 {
		return 0, 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	st, err := strconv.ParseUint(fields[19], 10, 64)
	return st, fields[0][0], err
}

// Alive reports whether the container's init is still the process we started.
func (r *Record) Alive() bool {
	if r.Pid <= 0 {
		return false
	}
	st, state, err := procStartTime(r.Pid)
	return err == nil && st == r.StartTime && state != 'Z' && state != 'X'
}

// Status derives the OCI status from the process and the exec fifo.
func (s Store) Status(r *Record, frozen func() bool) string {
	if !r.Alive() {
		return Stopped
	}
	if _, err := os.Stat(filepath.Join(s.dir(r.ID), fifoName)); err == nil {
		return Created
	}
	if frozen != nil && frozen() {
		return Paused
	}
	return Running
}

// State is the OCI state document with runc's extra fields.
type State struct {
	specs.State
	Rootfs  string    `json:"rootfs"`
	Created time.Time `json:"created"`
	Owner   string    `json:"owner"`
}

// OCIState builds the state document for a record.
func (r *Record) OCIState(status string) *State {
	st := &State{
		State: specs.State{
			Version: specs.Version, ID: r.ID, Status: specs.ContainerState(status),
			Bundle: r.Bundle, Annotations: r.Annotations,
		},
		Rootfs: r.Rootfs, Created: r.Created, Owner: r.Owner,
	}
	if status != Stopped {
		st.Pid = r.Pid
	}
	return st
}

// waitGone polls until pid has exited (we may not be its parent, so we
// cannot wait4 it).
func waitGone(r *Record, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for d := 100 * time.Microsecond; time.Now().Before(deadline); d = min(2*d, 10*time.Millisecond) {
		if !r.Alive() {
			return true
		}
		time.Sleep(d)
	}
	return !r.Alive()
}

var _ = unix.Getpid
