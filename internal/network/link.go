package network

import (
	"fmt"
	"net"
	"os/exec"
	"strings"
)

// deleteLink removes a host network device (a network's bridge); a
// missing one is fine.
func deleteLink(name string) error {
	if _, err := net.InterfaceByName(name); err != nil {
		return nil
	}
	out, err := exec.Command("ip", "link", "delete", name).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip link delete %s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}
