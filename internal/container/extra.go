package container

import (
	"context"
	"fmt"
	"os/exec"
	"strings"

	"github.com/berth-dev/berth/internal/errdefs"
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
	c, err := s.Get(term)
	if err != nil {
		return err
	}
	unlock := s.lock(c.ID)
	defer unlock()
	if c, err = s.Get(c.ID); err != nil {
		return err
	}
	if c.State.Status == StatusPaused {
		return errdefs.Conflict("container %s is already paused", c.ID)
	}
	if c.State.Status != StatusRunning {
		return errdefs.Conflict("container %s is not running", c.ID)
	}
	if err := s.runtime(ctx, c, "pause", c.ID); err != nil {
		return err
	}
	c, err = s.update(c.ID, func(c *Container) error { c.State.Status = StatusPaused; return nil })
	if err == nil {
		s.publish("pause", c, nil)
	}
	return err
}

// Unpause thaws a paused container.
func (s *Service) Unpause(ctx context.Context, term string) error {
	c, err := s.Get(term)
	if err != nil {
		return err
	}
	unlock := s.lock(c.ID)
	defer unlock()
	if c, err = s.Get(c.ID); err != nil {
		return err
	}
	if c.State.Status != StatusPaused {
		return errdefs.Conflict("container %s is not paused", c.ID)
	}
	if err := s.runtime(ctx, c, "resume", c.ID); err != nil {
		return err
	}
	c, err = s.update(c.ID, func(c *Container) error { c.State.Status = StatusRunning; return nil })
	if err == nil {
		s.publish("unpause", c, nil)
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
