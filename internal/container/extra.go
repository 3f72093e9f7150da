package container

import (
	"context"
	"fmt"
	"os/exec"
	"strings"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/shim"
)

// runtime runs the container's OCI runtime directly (pause, resume).
func (s *Service) runtime(ctx context.Context, c *Container, args ...string) error {
	bin := s.Runtimes[c.Runtime]
	out, err := exec.CommandContext(ctx, bin, append([]string{"--root", s.runtimeRoot()}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", c.Runtime, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Pause freezes a running container.
func (s *Service) Pause(ctx context.Context, term string) error {
	return s.freeze(ctx, term, "pause", StatusRunning, StatusPaused)
}

// Unpause thaws a paused container.
func (s *Service) Unpause(ctx context.Context, term string) error {
	return s.freeze(ctx, term, "resume", StatusPaused, StatusRunning)
}

// freeze runs the runtime's pause or resume for a container in state from.
func (s *Service) freeze(ctx context.Context, term, op, from, to string) error {
	c, err := s.Get(term)
	if err != nil {
		return err
	}
	unlock := s.lock(c.ID)
	defer unlock()
	if c, err = s.Get(c.ID); err != nil {
		return err
	}
	switch {
	case c.State.Status == from:
	case op == "pause" && c.State.Status == StatusPaused:
		return errdefs.Conflict("container %s is already paused", c.ID)
	case op == "resume":
		return errdefs.Conflict("container %s is not paused", c.ID)
	default:
		return errdefs.Conflict("container %s is not running", c.ID)
	}
	if err := s.runtime(ctx, c, op, c.ID); err != nil {
		return err
	}
	c, err = s.update(c.ID, func(c *Container) error { c.State.Status = to; return nil })
	if err == nil {
		s.publish(map[string]string{"pause": "pause", "resume": "unpause"}[op], c, nil)
	}
	return err
}

// Exited returns a channel closed once the container is not running
// (log followers stop there).
func (s *Service) Exited(ctx context.Context, id string) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		s.Wait(ctx, id, "not-running")
		close(ch)
	}()
	return ch
}

// Prune removes every stopped container and reports their IDs.
func (s *Service) Prune(ctx context.Context) ([]string, error) {
	list, err := s.List()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, c := range list {
		if c.State.Running() || c.State.Status == StatusRestarting {
			continue
		}
		if err := s.Remove(ctx, c.ID, RemoveOptions{}); err == nil {
			out = append(out, c.ID)
		}
	}
	return out, nil
}

// ReopenLog makes a running container's shim reopen its log file (after
// the kubelet rotated it).
func (s *Service) ReopenLog(term string) error {
	c, err := s.Get(term)
	if err != nil {
		return err
	}
	if !c.State.Running() {
		return errdefs.FailedPrecondition("container %s is not running", c.ID[:12])
	}
	cl, err := shim.Dial(s.shimDir(c.ID))
	if err != nil {
		return err
	}
	return cl.ReopenLog()
}
