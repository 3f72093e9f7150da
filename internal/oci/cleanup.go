//go:build !berthinit

package oci

// cleanups undoes partial work in reverse order unless released: every
// step of create that makes something pushes its undo here.
type cleanups []func()

func (c *cleanups) add(f func()) { *c = append(*c, f) }

// run undoes everything still held.
func (c *cleanups) run() {
	for i := len(*c) - 1; i >= 0; i-- {
		(*c)[i]()
	}
	*c = nil
}

// release keeps the work: called once create succeeded.
func (c *cleanups) release() { *c = nil }
