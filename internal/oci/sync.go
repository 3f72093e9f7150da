//go:build !berthinit

package oci

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// initSync is the parent's end of the socket pair with an init.
type initSync struct{ w *wire }

func newSync(sock *os.File) *initSync { return &initSync{w: newWire(sock)} }

func (y *initSync) sendConfig(c *initConfig) error {
	if err := y.w.sendConfig(c); err != nil {
		return y.writeFailed(err)
	}
	return nil
}

func (y *initSync) send(m syncMsg) error {
	if err := y.w.send(m); err != nil {
		return y.writeFailed(err)
	}
	return nil
}

// writeFailed: when the init has gone away it usually said why first; its
// error is the one worth reporting.
func (y *initSync) writeFailed(err error) error {
	if errors.Is(err, unix.EPIPE) || errors.Is(err, unix.ECONNRESET) {
		for {
			m, rerr := y.w.recv()
			if rerr != nil {
				break
			}
			if m.Type == msgError {
				return y.failure(m)
			}
		}
	}
	return fmt.Errorf("write to init: %w", err)
}

func (y *initSync) failure(m syncMsg) error {
	if m.HookFailed {
		return &hookError{errors.New(m.Error)}
	}
	return errors.New(m.Error)
}

// serve answers the child until it is ready: runs prestart and
// createRuntime hooks when it asks.
func (y *initSync) serve(spec *specs.Spec, state []byte) error {
	for {
		m, err := y.w.recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return errors.New("init exited during setup")
			}
			return fmt.Errorf("read from init: %w", err)
		}
		switch m.Type {
		case msgError:
			return y.failure(m)
		case msgReady:
			return nil
		case msgHooks:
			//nolint:staticcheck // Prestart is deprecated but still run, before createRuntime.
			if err := runHooks("prestart", spec.Hooks.Prestart, state); err != nil {
				return err
			}
			if err := runHooks("createRuntime", spec.Hooks.CreateRuntime, state); err != nil {
				return err
			}
			if err := y.send(syncMsg{Type: msgResume}); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unexpected message %q from init", m.Type)
		}
	}
}

// handshake sends the config and serves the child until it is ready, for a
// child already in its cgroup.
func (s Store) handshake(sock *os.File, cfg *initConfig, spec *specs.Spec, state []byte) error {
	y := newSync(sock)
	if err := y.sendConfig(cfg); err != nil {
		return err
	}
	if err := y.send(syncMsg{Type: msgPlaced}); err != nil {
		return err
	}
	return y.serve(spec, state)
}
