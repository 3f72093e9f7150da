package network

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// checkIPTables makes sure the iptables the CNI plugins will run works.
// Debian's default is the nft backend; where only the legacy one works,
// a directory that maps iptables to it goes first on this process's PATH,
// which the plugins inherit.
func checkIPTables() error {
	if iptablesWorks("iptables") {
		return nil
	}
	for _, alt := range []string{"iptables-legacy", "iptables-nft"} {
		if !iptablesWorks(alt) {
			continue
		}
		dir, err := os.MkdirTemp("", "berth-iptables-")
		if err != nil {
			return err
		}
		for _, tool := range []string{"iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore"} {
			target, err := exec.LookPath(strings.Replace(alt, "iptables", tool, 1))
			if err == nil {
				os.Symlink(target, filepath.Join(dir, tool))
			}
		}
		return os.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	}
	return fmt.Errorf("no working iptables (install iptables): published ports and NAT will not work")
}

func iptablesWorks(bin string) bool {
	return exec.Command(bin, "-w", "-t", "nat", "-L", "-n").Run() == nil
}
