package shim

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/berth-dev/berth/internal/errdefs"
)

// writeFileAtomic replaces path with data: a shim killed meanwhile leaves
// the old content or the new, never a torn file. It does not fsync: the
// state directory is under /run (tmpfs) by default, and what reads these
// files is berthd after its own or a shim's crash, which the page cache
// survives; a power cut takes the containers along, and berthd records
// them as gone. (The fsyncs cost ~1 ms on every container's exit path.)
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

func writeExitFile(stateDir string, e ExitStatus) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(stateDir, ExitFileName), append(b, '\n'))
}

// ReadExitFile returns the exit status a shim recorded in stateDir; an
// errdefs.ErrNotFound error means the container has not exited (or its
// shim died before it could record the exit).
func ReadExitFile(stateDir string) (ExitStatus, error) {
	var e ExitStatus
	b, err := os.ReadFile(filepath.Join(stateDir, ExitFileName))
	if errors.Is(err, os.ErrNotExist) {
		return e, errdefs.NotFound("no exit status in %s", stateDir)
	}
	if err != nil {
		return e, err
	}
	if err := json.Unmarshal(b, &e); err != nil {
		return e, fmt.Errorf("%s: %w", ExitFileName, err)
	}
	return e, nil
}

// ReadCreateError returns the runtime's message from a failed create, or
// "" when there is none.
func ReadCreateError(stateDir string) string {
	b, err := os.ReadFile(filepath.Join(stateDir, CreateErrorName))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
