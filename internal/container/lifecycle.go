package container

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moby/sys/signal"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/metadata"
	"github.com/berth-dev/berth/internal/shim"
	"github.com/berth-dev/berth/internal/snapshot"
)

// monitor waits for a running container's exit through its shim. If the
// daemon stops first, the shim keeps the container and its exit status.
// c is the container as it was started (its ID, host config and
// network are what the exit's handling needs before it reads the record).
func (s *Service) monitor(c *Container, st *started) {
	cl := shim.Open(s.shimDir(c.ID))
	res, err := cl.Wait(s.ctx)
	if s.ctx.Err() != nil {
		return // daemon shutting down; the shim carries on
	}
	if err != nil {
		s.exited(c, s.exitFromFile(c.ID), st)
		return
	}
	s.exited(c, exitInfo{Code: res.ExitCode, At: res.ExitedAt, OOMKilled: res.OOMKilled}, st)
}

// started is the running state of a container that had exited by the
// time its start returned: it was never recorded (see start), so its
// exit is recorded from the created state, with these.
type started struct {
	State State
	Path  string
	Args  []string
}

func (st *started) apply(c *Container) {
	if st != nil && c.State.Status == StatusCreated {
		c.State, c.Path, c.Args = st.State, st.Path, st.Args
	}
}

type exitInfo struct {
	Code      int       `json:"exitCode"`
	At        time.Time `json:"exitedAt"`
	OOMKilled bool      `json:"oomKilled"`
	Error     string    `json:"-"`
}

// exitFromFile reads the status the shim recorded, for containers whose
// shim is gone (it ended while the daemon was down, or died).
func (s *Service) exitFromFile(id string) exitInfo {
	b, err := os.ReadFile(filepath.Join(s.shimDir(id), "exit.json"))
	var e exitInfo
	if err != nil || json.Unmarshal(b, &e) != nil {
		return exitInfo{Code: 255, At: time.Now().UTC(), Error: "container's supervisor (berth-shim) exited without recording a status"}
	}
	return e
}

// exited records an exit, releases the rootfs, and applies --rm and the
// restart policy. c is the container as started (see monitor): its
// HostConfig.AutoRemove, which no update changes, and its network.
func (s *Service) exited(c *Container, e exitInfo, st *started) {
	id := c.ID
	// docker run --rm waits for the removal: it learns of it before the
	// lock (a start may still hold it, committing the running state) and
	// the removal's commit, once the rootfs is unmounted and the network
	// namespace of --network none released, as Docker's removal has done
	// by then. The container is hidden from here on, as a removed one; a
	// create that wants its name waits for the commit (awaitHidden). A
	// crash before the commit leaves the record, which the next start
	// removes (Recover, exit.json). Traced: the wait's answer came
	// ~1.2 ms after the start's, now with it or before.
	var early chan struct{}
	if c.HostConfig.AutoRemove && e.Error == "" {
		s.rememberExit(id, WaitResult{ExitCode: e.Code})
		early = s.hide(id)
		s.releaseRemoved(c)
		s.notify()
	}
	unlock := s.lock(id)
	cur, err := s.record(id)
	if err == nil {
		st.apply(cur)
	}
	if err != nil || !cur.State.Running() {
		if early != nil {
			s.reveal(id, early)
		}
		unlock()
		return
	}
	// Clean up first, so whoever sees "exited" sees it done.
	if e.Error != "" {
		// The shim died: its container may still run, unsupervised.
		if err := s.runtime(context.Background(), cur, "delete", "--force", id); err != nil {
			s.log().Warn("cleaning up after a dead shim", "container", id, "err", err)
		}
	}
	if cur.HostConfig.AutoRemove {
		// --rm: the exit and the removal are one commit, and the files go
		// after it, so that docker run --rm returns sooner.
		if s.exitAndRemove(cur, e, early) {
			unlock()
			return
		}
	}
	// The shim is let go once the exit is recorded: it then runs the
	// runtime's delete, a process that would compete for a CPU with this.
	s.releaseFiles(cur)
	done, err := s.update(id, func(c *Container) error {
		st.apply(c)
		c.State.Status = StatusExited
		c.State.ExitCode = e.Code
		c.Net = nil // torn down by release
		c.State.FinishedAt = e.At
		if c.State.FinishedAt.IsZero() {
			c.State.FinishedAt = time.Now().UTC()
		}
		c.State.Pid = 0
		c.State.OOMKilled = e.OOMKilled
		c.State.Error = e.Error
		return nil
	})
	s.shutdownShim(cur)
	unlock()
	if err != nil {
		return
	}
	s.publish("die", done, map[string]string{"exitCode": strconv.Itoa(e.Code)})
	switch {
	case done.HostConfig.AutoRemove:
		if err := s.Remove(context.Background(), id, RemoveOptions{Force: true}); err != nil && !errdefs.IsNotFound(err) {
			s.log().Warn("auto-remove", "container", id, "err", err)
		}
	case s.shouldRestart(done):
		go s.restartLater(id, done.RestartCount)
	}
}

// exitAndRemove records the exit of a --rm container by removing it: one
// commit, and the clean-up in the background (Settle waits for it). The
// caller holds the container's lock, and has hidden the container and
// told its waiters already when hidden is not nil. It reports whether it
// handled the exit (it always does now; the caller keeps a path for when
// it does not).
func (s *Service) exitAndRemove(c *Container, e exitInfo, hidden chan struct{}) bool {
	final := *c
	final.State.Status, final.State.ExitCode, final.State.Pid = StatusExited, e.Code, 0
	if hidden == nil {
		// For waiters that look once the record is gone.
		s.rememberExit(c.ID, WaitResult{ExitCode: e.Code, Error: e.Error})
		hidden = s.hide(c.ID)
		s.releaseRemoved(c)
		s.notify()
	}
	s.publish("die", &final, map[string]string{"exitCode": strconv.Itoa(e.Code)})
	s.publish("destroy", &final, nil)
	err := s.Meta.Update(func(tx *metadata.Tx) error {
		cur, err := containersTable.Get(tx, c.ID)
		if err != nil {
			return err
		}
		namesTable.Delete(tx, cur.Name)
		return containersTable.Delete(tx, c.ID)
	})
	s.reveal(c.ID, hidden)
	if err != nil {
		// Announced as removed, but the record stays: the exit is
		// recorded instead (when even that fails, the next daemon start
		// finds the shim gone and removes it).
		s.log().Warn("auto-remove", "container", c.ID, "err", err)
		s.update(c.ID, func(c *Container) error {
			c.State.Status, c.State.ExitCode, c.State.Pid, c.State.FinishedAt = StatusExited, e.Code, 0, e.At
			return nil
		})
		return true
	}
	// The rest in the background, at once. (Started cleanupDelay later,
	// as the CRI's removals are, it made no difference to docker run --rm
	// back to back: blocks of 25 runs, 150 each, 21.98 vs 22.23 ms.)
	s.cleanups.Add(1)
	go func() {
		defer s.cleanups.Done()
		s.cleanUp(context.Background(), &final, RemoveOptions{Force: true, released: true})
	}()
	return true
}

// releaseRemoved unmounts the rootfs of a --rm container that exited and
// tears its network down, in parallel, before the record goes: no mount
// is left to a container the next daemon start does not know, and no
// namespace to one a waiter was told is removed.
func (s *Service) releaseRemoved(c *Container) {
	unmounted := make(chan struct{})
	go func() {
		snapshot.UnmountAll(filepath.Join(s.bundleDir(c.ID), "rootfs"))
		close(unmounted)
	}()
	s.teardownNetworkOf(c)
	<-unmounted
}

// release tears down what a stopped container no longer needs: its shim,
// its rootfs mount and bundle. The writable layer and logs stay.
//
// The shim goes in the background: it is waiting for the runtime's delete
// of the container (a process of its own, which only removes the runtime's
// state and cgroups), which nothing here depends on. A new start of the
// same container waits for it (waitShim).
func (s *Service) release(c *Container) {
	s.shutdownShim(c)
	s.releaseFiles(c)
}

// releaseFiles is release without the shim.
func (s *Service) releaseFiles(c *Container) {
	s.waitPremount(c.ID)
	snapshot.UnmountAll(filepath.Join(s.bundleDir(c.ID), "rootfs"))
	os.RemoveAll(s.bundleDir(c.ID))
	s.teardownNetwork(c.ID)
}

// shutdownShim lets the shim of a stopped container go, in the background.
// A shim that is gone (killed) may have left the runtime's state of the
// container: the runtime's delete removes it then.
func (s *Service) shutdownShim(c *Container) {
	id := c.ID
	cl := shim.Open(s.shimDir(id))
	done := make(chan struct{})
	s.mu.Lock()
	prev := s.closing[id]
	s.closing[id] = done
	s.mu.Unlock()
	go func() {
		if prev != nil {
			<-prev
		}
		if err := cl.Shutdown(); errdefs.IsUnavailable(err) {
			if _, err := os.Stat(filepath.Join(s.runtimeRoot(), id)); err == nil {
				if err := s.runtime(context.Background(), c, "delete", "--force", id); err != nil {
					s.log().Warn("delete a container whose shim is gone", "container", id, "err", err)
				}
			}
		}
		s.mu.Lock()
		if s.closing[id] == done {
			delete(s.closing, id)
		}
		s.mu.Unlock()
		close(done)
	}()
}

// waitShim waits until the shim of a stopped container has gone.
func (s *Service) waitShim(id string) {
	s.mu.Lock()
	c := s.closing[id]
	s.mu.Unlock()
	if c != nil {
		<-c
	}
}

// WaitReleased waits until a stopped container's exit has been handled
// and its shim has deleted the runtime's state (cgroups, state files).
// The CRI's StopContainer answers after it: the kubelet's next call (a
// removal, most often) then does not share the CPUs with that work.
func (s *Service) WaitReleased(id string) {
	s.lock(id)() // the exit's handling holds the lock until the shim is let go
	s.waitShim(id)
}

func (s *Service) shouldRestart(c *Container) bool {
	if c.State.StoppedByUser {
		return false
	}
	p := c.HostConfig.RestartPolicy
	switch p.Name {
	case "always", "unless-stopped":
		return true
	case "on-failure":
		return c.State.ExitCode != 0 && (p.MaximumRetryCount == 0 || c.RestartCount < p.MaximumRetryCount)
	}
	return false
}

// restartLater restarts after Docker's backoff: 100 ms doubling per
// consecutive restart, capped at a minute.
func (s *Service) restartLater(id string, count int) {
	delay := 100 * time.Millisecond << min(count, 10)
	if delay > time.Minute {
		delay = time.Minute
	}
	s.update(id, func(c *Container) error {
		c.State.Status = StatusRestarting
		return nil
	})
	select {
	case <-time.After(delay):
	case <-s.ctx.Done():
		return
	}
	unlock := s.lock(id)
	defer unlock()
	c, err := s.Get(id)
	if err != nil || c.State.Status != StatusRestarting {
		return // removed or stopped meanwhile
	}
	// Stays "restarting" until start makes it "running": no one may see
	// an exited state with the final restart count in between.
	s.update(id, func(c *Container) error {
		c.RestartCount++
		return nil
	})
	c.RestartCount++
	if err := s.start(s.ctx, c); err != nil {
		s.log().Warn("restart", "container", id, "err", err)
	}
}

// parseSignal reads "SIGTERM", "TERM", "15".
func parseSignal(sig string) (syscall.Signal, error) {
	if sig == "" {
		return syscall.SIGKILL, nil
	}
	s, err := signal.ParseSignal(strings.ToUpper(sig))
	if err != nil {
		return 0, errdefs.InvalidArgument("invalid signal: %s", sig)
	}
	return s, nil
}

// Kill sends a signal to the container's process.
func (s *Service) Kill(ctx context.Context, term, sig string) error {
	signo, err := parseSignal(sig)
	if err != nil {
		return err
	}
	c, err := s.Get(term)
	if err != nil {
		return err
	}
	if !c.State.Running() {
		return errdefs.Conflict("cannot kill container: %s: container %s is not running", term, c.ID)
	}
	if signo == syscall.SIGKILL || signo == syscall.SIGTERM || signo == syscall.SIGINT {
		s.update(c.ID, func(c *Container) error {
			c.State.StoppedByUser = true
			return nil
		})
	}
	cl, err := shim.Dial(s.shimDir(c.ID))
	if err == nil {
		err = cl.Kill(signo, false)
	}
	if err != nil {
		// The container may have exited since its record was read: its
		// shim then records the exit and goes (a kill racing it finds the
		// socket gone, or closed under the request). Not running, as
		// Docker says of a stopped container; Stop goes on to wait.
		if _, xerr := shim.ReadExitFile(s.shimDir(c.ID)); xerr == nil {
			return errdefs.Conflict("cannot kill container: %s: container %s is not running", term, c.ID)
		}
		return fmt.Errorf("kill %s: %w", term, err)
	}
	s.publish("kill", c, map[string]string{"signal": strconv.Itoa(int(signo))})
	return nil
}

// Stop sends the stop signal, waits timeout, then kills.
func (s *Service) Stop(ctx context.Context, term string, timeout *int, sig string) error {
	c, err := s.Get(term)
	if err != nil {
		return err
	}
	if c.State.Status == StatusRestarting {
		s.update(c.ID, func(c *Container) error {
			c.State.Status, c.State.StoppedByUser = StatusExited, true
			return nil
		})
		return nil
	}
	if !c.State.Running() {
		return ErrNotModified
	}
	if sig == "" {
		sig = c.Config.StopSignal
	}
	if sig == "" {
		if img, err := s.Images.Get(ctx, c.Image); err == nil {
			if cfg, err := s.Images.Config(ctx, img.Image); err == nil {
				sig = cfg.Config.StopSignal
			}
		}
	}
	if sig == "" {
		sig = "SIGTERM"
	}
	wait := 10
	if c.Config.StopTimeout != nil {
		wait = *c.Config.StopTimeout
	}
	if timeout != nil {
		wait = *timeout
	}
	if err := s.Kill(ctx, c.ID, sig); err != nil && !errdefs.IsConflict(err) {
		return err
	}
	if wait < 0 {
		_, err := s.Wait(ctx, c.ID, "not-running")
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, time.Duration(wait)*time.Second)
	_, err = s.Wait(wctx, c.ID, "not-running")
	cancel()
	if err == nil {
		s.publish("stop", c, nil)
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if cl, err := shim.Dial(s.shimDir(c.ID)); err == nil {
		cl.Kill(syscall.SIGKILL, true)
	}
	_, err = s.Wait(ctx, c.ID, "not-running")
	s.publish("stop", c, nil)
	return err
}

// Restart stops (if running) and starts.
func (s *Service) Restart(ctx context.Context, term string, timeout *int, sig string) error {
	if err := s.Stop(ctx, term, timeout, sig); err != nil && err != ErrNotModified {
		return err
	}
	if err := s.Start(ctx, term); err != nil && err != ErrNotModified {
		return err
	}
	c, _ := s.Get(term)
	if c != nil {
		s.publish("restart", c, nil)
	}
	return nil
}

// WaitResult is what Wait returns.
type WaitResult struct {
	ExitCode int
	Error    string
}

// Wait blocks until the container meets condition: "not-running" (the
// default), "next-exit" or "removed".
func (s *Service) Wait(ctx context.Context, term, condition string) (WaitResult, error) {
	c, err := s.Get(term)
	if err != nil {
		return WaitResult{}, err
	}
	return s.WaitFrom(ctx, c, condition)
}

// WaitFrom is Wait with the starting point taken when c was read, so a
// caller can register (read c), acknowledge, and only then block without
// missing an exit in between (docker run waits before it starts).
func (s *Service) WaitFrom(ctx context.Context, c *Container, condition string) (WaitResult, error) {
	id := c.ID
	start := c.State.FinishedAt
	switch condition {
	case "", "not-running", "next-exit", "removed":
	default:
		return WaitResult{}, errdefs.InvalidArgument("invalid condition: %q", condition)
	}
	last := *c
	for {
		ch := s.changes()
		c, err := s.Get(id)
		switch {
		case errdefs.IsNotFound(err):
			if condition == "removed" || condition == "not-running" || condition == "next-exit" {
				// The exit and the removal may both have happened
				// since this waiter last looked (docker run --rm).
				if e, ok := s.removedExit(id); ok {
					return e, nil
				}
				return WaitResult{ExitCode: last.State.ExitCode}, nil
			}
			return WaitResult{}, err
		case err != nil:
			return WaitResult{}, err
		}
		last = *c
		st := c.State
		stopped := !st.Running() && st.Status != StatusRestarting
		switch condition {
		case "", "not-running":
			if stopped {
				return WaitResult{ExitCode: st.ExitCode, Error: st.Error}, nil
			}
		case "next-exit":
			if stopped && st.FinishedAt.After(start) {
				return WaitResult{ExitCode: st.ExitCode, Error: st.Error}, nil
			}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return WaitResult{}, ctx.Err()
		}
	}
}

// RemoveOptions tune Remove.
type RemoveOptions struct {
	Force, Volumes bool
	// Background: answer once the record is gone; the writable layer,
	// bundle, files and volumes go after (Settle waits for that). The
	// CRI's RemoveContainer, which the kubelet calls on its own schedule.
	Background bool
	// released: the mount and the network are already let go of
	// (exitAndRemove); the shim and the bundle are left.
	released bool
}

// cleanupDelay is how long after a removal's answer its background
// clean-up starts (RemoveOptions.Background).
const cleanupDelay = 3 * time.Millisecond

// Remove deletes a container, its writable layer, logs and files.
func (s *Service) Remove(ctx context.Context, term string, opts RemoveOptions) error {
	c, err := s.Get(term)
	if err != nil {
		return err
	}
	if c.State.Running() || c.State.Status == StatusRestarting {
		if !opts.Force {
			return errdefs.Conflict("cannot remove container \"/%s\": container is %s: stop the container before removing or force remove", c.Name, c.State.Status)
		}
		if c.State.Status == StatusRestarting {
			s.update(c.ID, func(c *Container) error { c.State.Status, c.State.StoppedByUser = StatusExited, true; return nil })
		} else {
			zero := 0
			if err := s.Stop(ctx, c.ID, &zero, "SIGKILL"); err != nil && err != ErrNotModified {
				return err
			}
		}
	}
	unlock := s.lock(c.ID)
	defer unlock()
	// The record goes first, in one transaction with the check that the
	// container is not running again: what it leaves behind if the daemon
	// dies before the rest is done (writable layer, bundle, data and shim
	// directories, network namespace) belongs to no container, which the
	// next start cleans up (Recover and the garbage collector).
	err = s.Meta.Update(func(tx *metadata.Tx) error {
		cur, err := containersTable.Get(tx, c.ID)
		if err != nil {
			return err
		}
		if cur.State.Running() {
			return errdefs.Conflict("container %s started again while it was being removed", c.ID[:12])
		}
		// For waiters that look once the record is gone.
		s.rememberExit(c.ID, WaitResult{ExitCode: cur.State.ExitCode, Error: cur.State.Error})
		namesTable.Delete(tx, c.Name)
		return containersTable.Delete(tx, c.ID)
	})
	if err != nil {
		return err
	}
	if opts.Background {
		// A moment later: the answer and the caller's next request get
		// the CPUs first. Started at once, the clean-up's unmount, disk
		// syncs and deletions held both CPUs while the answer waited to be
		// written (CRI RemoveContainer: 1.7 ms at the client for 0.8 ms
		// in the handler; 0.85 ms with the delay).
		s.cleanups.Add(1)
		time.AfterFunc(cleanupDelay, func() {
			defer s.cleanups.Done()
			s.cleanUp(context.WithoutCancel(ctx), c, opts)
		})
	} else {
		s.cleanUp(ctx, c, opts)
	}
	s.notify()
	s.publish("destroy", c, nil)
	return nil
}

// cleanUp removes what a removed container's record leaves: mounts and
// bundle, shim directory, writable layer, files, anonymous volumes.
func (s *Service) cleanUp(ctx context.Context, c *Container, opts RemoveOptions) {
	if opts.released {
		s.shutdownShim(c)
		os.RemoveAll(s.bundleDir(c.ID))
	} else {
		s.release(c)
	}
	if s.Networks != nil {
		// The endpoints went in the background at the exit: a removed
		// container leaves no namespace, veth or address behind.
		s.Networks.WaitTeardown(c.ID)
	}
	// The shim's directory holds its runtime's log until it is gone.
	go func() {
		s.waitShim(c.ID)
		os.RemoveAll(s.shimDir(c.ID))
	}()
	if err := s.Snaps.Remove(ctx, c.ID); err != nil && !errdefs.IsNotFound(err) {
		// Left to the garbage collector.
		s.log().Warn("remove container: writable layer", "container", c.ID, "err", err)
	}
	os.RemoveAll(s.dataDir(c.ID))
	forgetExecs(c.ID)
	// rm -v and --rm take the container's anonymous volumes along.
	if (opts.Volumes || c.HostConfig.AutoRemove) && s.Volumes != nil {
		for _, m := range c.Mounts {
			if m.Type == "volume" && m.Anonymous {
				if err := s.Volumes.Remove(ctx, m.Name, false); err != nil && !errdefs.IsNotFound(err) {
					s.log().Warn("remove anonymous volume", "volume", m.Name, "err", err)
				}
			}
		}
	}
}

// Settle waits for the clean-ups of removals made in the background.
func (s *Service) Settle() { s.cleanups.Wait() }

// Rename changes a container's name.
func (s *Service) Rename(term, name string) error {
	name = strings.TrimPrefix(name, "/")
	if err := checkName(name); err != nil {
		return err
	}
	c, err := s.Get(term)
	if err != nil {
		return err
	}
	err = s.Meta.Update(func(tx *metadata.Tx) error {
		if other, err := namesTable.Get(tx, name); err == nil && other != c.ID {
			return errdefs.Conflict("Error when allocating new name: Conflict. The container name \"/%s\" is already in use by container \"%s\".", name, other)
		}
		cur, err := containersTable.Get(tx, c.ID)
		if err != nil {
			return err
		}
		namesTable.Delete(tx, cur.Name)
		cur.Name = name
		if err := namesTable.Put(tx, name, c.ID); err != nil {
			return err
		}
		return containersTable.Put(tx, c.ID, cur)
	})
	if err == nil {
		s.notify()
		s.publish("rename", c, map[string]string{"oldName": "/" + c.Name, "name": name})
	}
	return err
}

// maxRemovedExits bounds the exits kept for containers already removed.
const maxRemovedExits = 256

// rememberExit keeps a removed container's exit for its waiters.
func (s *Service) rememberExit(id string, e WaitResult) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.removedExits == nil {
		s.removedExits = map[string]WaitResult{}
	}
	s.removedExits[id] = e
	s.removedOrder = append(s.removedOrder, id)
	for len(s.removedOrder) > maxRemovedExits {
		delete(s.removedExits, s.removedOrder[0])
		s.removedOrder = s.removedOrder[1:]
	}
}

func (s *Service) removedExit(id string) (WaitResult, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.removedExits[id]
	return e, ok
}
