//go:build shimruntime

// Built with the shimruntime tag (bin/berth-shim-rt), the shim runs
// berth-oci's run and delete itself; see shim.InProcess.

package main

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/shim"
)

func init() { shim.InProcess = ociInProcess{} }

type ociInProcess struct{}

// Handles: the berth-oci installed with this shim (the same code).
func (ociInProcess) Handles(runtimePath string) bool {
	self, err := os.Executable()
	return err == nil && runtimePath == filepath.Join(filepath.Dir(self), "berth-oci")
}

func (ociInProcess) Warm() { oci.Warm() }

func (ociInProcess) Prefork() { oci.PreforkInit() }

func (ociInProcess) DropSpare(wait bool) { oci.DropSpareInit(wait) }

func (ociInProcess) Run(root, id, bundle, pidFile, consoleSocket string, stdio []*os.File) (bool, error) {
	_, err := oci.Store{Root: root}.Run(&oci.CreateOpts{
		ID: id, Bundle: bundle, PidFile: pidFile, ConsoleSocket: consoleSocket, Stdio: stdio, InProcess: true,
	}, true)
	if errors.Is(err, oci.ErrNeedsRuntimeBinary) {
		return false, nil
	}
	return true, err
}

func (ociInProcess) Delete(root, id string, force bool) (bool, error) {
	h, err := oci.Store{Root: root}.Open(id)
	if err != nil {
		if force && errdefs.IsNotFound(err) {
			return true, nil
		}
		return true, err
	}
	return true, h.Delete(force)
}
