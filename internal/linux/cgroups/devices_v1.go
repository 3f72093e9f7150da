package cgroups

import (
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// v1Devices writes the device rules, in order, to devices.deny and
// devices.allow. A rule of type "a" (or no type) resets the whole list to
// deny-all or allow-all, so a leading deny-all followed by allows gives the
// usual allow list.
func (m *Manager) v1Devices(r *specs.LinuxResources) error {
	if len(r.Devices) == 0 {
		return nil
	}
	d, err := m.need("devices", "linux.resources.devices")
	if err != nil {
		return err
	}
	for _, rule := range r.Devices {
		file := "devices.deny"
		if rule.Allow {
			file = "devices.allow"
		}
		if err := writeFile(d, file, v1DeviceRule(rule)); err != nil {
			return err
		}
	}
	return nil
}

// v1DeviceRule formats a rule the way devices.allow/deny take it:
// "c 1:3 rwm", "b *:* m", or just "a" for all devices.
func v1DeviceRule(rule specs.LinuxDeviceCgroup) string {
	typ := rule.Type
	if typ == "" || typ == "a" {
		if isWildcard(rule.Major) && isWildcard(rule.Minor) && (rule.Access == "" || accessBits(rule.Access) == accAll) {
			return "a"
		}
		typ = "a"
	}
	access := rule.Access
	if access == "" {
		access = "rwm"
	}
	return typ + " " + devNum(rule.Major) + ":" + devNum(rule.Minor) + " " + access
}

func isWildcard(n *int64) bool { return n == nil || *n < 0 }

func devNum(n *int64) string {
	if isWildcard(n) {
		return "*"
	}
	return strconv.FormatInt(*n, 10)
}

// Access bits, as the kernel's BPF_DEVCG_ACC_* values.
const (
	accMknod = 1
	accRead  = 2
	accWrite = 4
	accAll   = accMknod | accRead | accWrite
)

// accessBits converts "rwm" letters; an empty string is every access.
func accessBits(s string) int32 {
	if s == "" {
		return accAll
	}
	var b int32
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case 'r':
			b |= accRead
		case 'w':
			b |= accWrite
		case 'm':
			b |= accMknod
		}
	}
	return b
}
