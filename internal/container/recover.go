package container

import (
	"context"
	"os"
	"path/filepath"
	"syscall"

	"github.com/berth-dev/berth/internal/shim"
	"github.com/berth-dev/berth/internal/snapshot"
)

// Recover runs at daemon start: it reconnects to the shim of every
// container that was running (in parallel), records the exit of those
// that ended while the daemon was down, and starts containers whose
// restart policy asks for it.
func (s *Service) Recover(ctx context.Context) error {
	list, err := s.List()
	if err != nil {
		return err
	}
	done := make(chan struct{}, len(list))
	for _, c := range list {
		go func() {
			defer func() { done <- struct{}{} }()
			switch {
			case c.State.Running():
				if cl, err := shim.Dial(s.shimDir(c.ID)); err == nil {
					if st, err := cl.State(); err == nil && st.Status != "stopped" {
						if s.Networks != nil && c.Net != nil {
							s.Networks.Restore(c.ID, c.Net.Attachments, c.Net.Ports)
						}
						go s.monitor(&c, nil)
						return
					}
				}
				s.exited(&c, s.exitFromFile(c.ID), nil)
			case c.State.Status == StatusRemoving:
				// A removal the crash cut short: finish it.
				if err := s.Remove(ctx, c.ID, RemoveOptions{Force: true, Volumes: c.HostConfig.AutoRemove}); err != nil {
					s.log().Warn("finishing an interrupted removal", "container", c.ID, "err", err)
				}
			case c.State.Status == StatusRestarting:
				s.update(c.ID, func(c *Container) error { c.State.Status = StatusExited; return nil })
				fallthrough
			default:
				if c.State.Status == StatusCreated {
					// A start the crash cut short may have left a shim
					// and a created (or even started) container behind.
					if cl, err := shim.Dial(s.shimDir(c.ID)); err == nil {
						cl.Kill(syscall.SIGKILL, true)
						s.runtime(ctx, &c, "delete", "--force", c.ID)
					}
				}
				s.release(&c) // a mount left by a crash
				if c.Net != nil {
					s.update(c.ID, func(c *Container) error { c.Net = nil; return nil })
				}
				p := c.HostConfig.RestartPolicy.Name
				// always restarts even a container stopped by hand (as
				// Docker does at daemon start); unless-stopped does not.
				if c.State.Status != StatusCreated && (p == "always" || (p == "unless-stopped" && !c.State.StoppedByUser)) {
					if err := s.Start(ctx, c.ID); err != nil {
						s.log().Warn("restart policy: starting after daemon start", "container", c.ID, "err", err)
					}
				}
			}
		}()
	}
	for range list {
		<-done
	}
	known := map[string]bool{}
	for _, c := range list {
		known[c.ID] = true
	}
	if s.NonePool != nil {
		// Namespaces of containers on no network that no longer run.
		s.NonePool.Clean(func(id string) bool {
			c, err := s.Get(id)
			return err == nil && c.State.Running()
		})
	}
	// Bundles and data of containers whose removal a crash cut short
	// (their records go first).
	for _, dir := range []string{filepath.Join(s.State, "containers"), filepath.Join(s.Root, "containers")} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if !known[e.Name()] && e.IsDir() {
				snapshot.UnmountAll(filepath.Join(dir, e.Name(), "rootfs"))
				os.RemoveAll(filepath.Join(dir, e.Name()))
			}
		}
	}
	// Shim directories of removed containers: a removal leaves the
	// directory to a background cleanup, which a stop may have cut short.
	if ents, err := os.ReadDir(filepath.Join(s.State, "shims")); err == nil {
		for _, e := range ents {
			if known[e.Name()] {
				continue
			}
			if cl, err := shim.Dial(s.shimDir(e.Name())); err == nil {
				cl.Kill(syscall.SIGKILL, true)
				cl.Shutdown()
			}
			os.RemoveAll(s.shimDir(e.Name()))
		}
	}
	if s.Networks != nil {
		// Namespaces of containers whose records are gone.
		if s.NetworkOwners != nil {
			for _, id := range s.NetworkOwners() {
				known[id] = true
			}
		}
		for _, id := range s.Networks.Leftovers() {
			if !known[id] {
				s.Networks.ForgetPorts(ctx, id)
				s.Networks.Teardown(ctx, id, nil, nil)
			}
		}
		// Rules whose endpoint's pin is gone too (a teardown cut short
		// after the unpin): found by their CNI tag.
		s.Networks.SweepRules(func(id string) bool { return known[id] })
	}
	return nil
}
