package exeseal

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

// Each variant must be executable and must refuse a reopen for writing
// through /proc/self/fd, which is what /proc/<pid>/exe gives an attacker.
func TestVariants(t *testing.T) {
	if os.Getenv("BERTH_EXESEAL_CHILD") == "1" {
		fmt.Print("child-ran")
		os.Exit(0)
	}
	variants := map[string]func() (*os.File, error){
		"robind": func() (*os.File, error) { return roBind("/proc/self/exe") },
		"memfd":  func() (*os.File, error) { return sealedCopy("/proc/self/exe") },
	}
	for name, open := range variants {
		t.Run(name, func(t *testing.T) {
			f, err := open()
			if err != nil {
				if name == "robind" && (errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOSYS)) {
					t.Skipf("needs CAP_SYS_ADMIN and kernel 5.12+: %v", err)
				}
				t.Fatal(err)
			}
			defer f.Close()
			path := fmt.Sprintf("/proc/self/fd/%d", f.Fd())
			// A memfd may be reopened, but its seals refuse the write itself.
			if w, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
				_, werr := w.Write([]byte("x"))
				w.Close()
				if werr == nil {
					t.Fatalf("%s: wrote through a reopened fd", name)
				}
			}
			cmd := exec.Command(path, "-test.run=TestVariants")
			cmd.Env = append(os.Environ(), "BERTH_EXESEAL_CHILD=1")
			out, err := cmd.Output()
			if err != nil || string(out) != "child-ran" {
				t.Fatalf("exec %s: %v %q", name, err, out)
			}
		})
	}
}
