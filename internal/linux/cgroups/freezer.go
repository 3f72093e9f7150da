package cgroups

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/errdefs"
)

// Freezer states as FreezerState reports them.
const (
	Thawed   = "THAWED"
	Freezing = "FREEZING"
	Frozen   = "FROZEN"
)

// freezeWait bounds how long Freeze waits for every task to stop.
const freezeWait = 5 * time.Second

// Freeze stops every task in the cgroup and waits until the kernel reports
// the cgroup frozen. If that does not happen in time it thaws again and
// returns an error.
func (m *Manager) Freeze() error {
	d, v2, err := m.freezerDir()
	if err != nil {
		return err
	}
	if v2 {
		return freezeV2(d)
	}
	return freezeV1(d)
}

// Thaw resumes the tasks of a frozen cgroup.
func (m *Manager) Thaw() error {
	d, v2, err := m.freezerDir()
	if err != nil {
		return err
	}
	if v2 {
		return writeFile(d, "cgroup.freeze", "0")
	}
	return writeFile(d, "freezer.state", Thawed)
}

// FreezerState reports THAWED, FREEZING or FROZEN. Without a freezer the
// cgroup is THAWED.
func (m *Manager) FreezerState() (string, error) {
	d, v2, err := m.freezerDir()
	if err != nil {
		if errors.Is(err, errdefs.ErrNotImplemented) {
			return Thawed, nil
		}
		return "", err
	}
	if !v2 {
		s, err := readString(d, "freezer.state")
		if err != nil {
			return "", err
		}
		return s, nil
	}
	want, err := readString(d, "cgroup.freeze")
	if err != nil {
		if isNotExist(err) && dirExists(d) {
			return Thawed, nil // the root cgroup or a kernel without freeze
		}
		return "", err
	}
	if want != "1" {
		return Thawed, nil
	}
	frozen, err := eventsFrozen(d)
	if err != nil {
		return "", err
	}
	if frozen {
		return Frozen, nil
	}
	return Freezing, nil
}

func (m *Manager) freezerDir() (string, bool, error) {
	if m.version == 2 {
		return m.dirs[m.unified].dir, true, nil
	}
	d := m.Path("freezer")
	if d == "" {
		return "", false, errdefs.NotImplemented("cgroups: no freezer cgroup hierarchy is mounted")
	}
	return d, false, nil
}

func freezeV1(d string) error {
	if err := writeFile(d, "freezer.state", Frozen); err != nil {
		return err
	}
	deadline := time.Now().Add(freezeWait)
	delay := 100 * time.Microsecond
	for i := 1; ; i++ {
		s, err := readString(d, "freezer.state")
		if err != nil {
			return err
		}
		if s == Frozen {
			return nil
		}
		if time.Now().After(deadline) {
			_ = writeFile(d, "freezer.state", Thawed)
			return fmt.Errorf("cgroups: %s did not freeze within %s (state %s): %w", d, freezeWait, s, errdefs.ErrUnavailable)
		}
		// A task that was forking may have escaped the first request; ask again.
		if i%8 == 0 {
			if err := writeFile(d, "freezer.state", Frozen); err != nil {
				return err
			}
		}
		time.Sleep(delay)
		if delay < 10*time.Millisecond {
			delay *= 2
		}
	}
}

func freezeV2(d string) error {
	if err := writeFile(d, "cgroup.freeze", "1"); err != nil {
		return err
	}
	deadline := time.Now().Add(freezeWait)
	delay := 100 * time.Microsecond
	for {
		frozen, err := eventsFrozen(d)
		if err != nil {
			return err
		}
		if frozen {
			return nil
		}
		if time.Now().After(deadline) {
			_ = writeFile(d, "cgroup.freeze", "0")
			return fmt.Errorf("cgroups: %s did not freeze within %s: %w", d, freezeWait, errdefs.ErrUnavailable)
		}
		time.Sleep(delay)
		if delay < 10*time.Millisecond {
			delay *= 2
		}
	}
}

// eventsFrozen reads "frozen 0|1" from cgroup.events.
func eventsFrozen(d string) (bool, error) {
	s, err := readString(d, "cgroup.events")
	if err != nil {
		return false, err
	}
	for _, line := range strings.Split(s, "\n") {
		if v, ok := strings.CutPrefix(line, "frozen "); ok {
			return strings.TrimSpace(v) == "1", nil
		}
	}
	return false, nil
}
