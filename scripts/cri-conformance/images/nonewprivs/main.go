// Command nonewprivs is the stand-in for registry.k8s.io/e2e-test-images/nonewprivs.
// The image installs it setuid root; critest runs it as uid 1000 with and without
// no_new_privs and compares the effective uid it prints (0 when the setuid bit took
// effect, 1000 when no_new_privs suppressed it).
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Printf("Effective uid: %d\n", os.Geteuid())
}
