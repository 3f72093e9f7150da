package daemon_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	reg "github.com/berth-dev/berth/internal/testutil/registry"
)

// A pull that fills the disk fails clearly, keeps nothing half-made, and a
// pull that fits succeeds afterwards.
func TestPullFullDisk(t *testing.T) {
	r := reg.Start(t)
	d := startDaemon(t, "")
	d.stop()
	// Put the daemon's root on a 12 MiB tmpfs.
	if err := os.MkdirAll(d.root, 0o711); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(d.root)
	os.MkdirAll(d.root, 0o711)
	if err := unix.Mount("tmpfs", d.root, "tmpfs", 0, "size=12m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(d.root, unix.MNT_DETACH) })
	d.start()
	t.Cleanup(d.stop) // before the unmount above

	big := r.Ref("it/big:1")
	reg.Push(t, big, reg.BigImage(t, 2, 16, 200))
	small := r.Ref("it/small:1")
	reg.Push(t, small, reg.BusyboxImage(t))

	msg := d.berthFail("pull", big)
	if !strings.Contains(msg, "no space left on device") {
		t.Errorf("full disk: %q", msg)
	}
	d.restart()
	if blobs, snaps, _ := d.counts(); blobs != 0 || snaps != 0 {
		t.Errorf("after the failed pull: %d blobs, %d snapshots", blobs, snaps)
	}
	var st unix.Statfs_t
	unix.Statfs(d.root, &st)
	if free := st.Bfree * uint64(st.Bsize); free < 8<<20 {
		t.Errorf("only %d bytes free after the failed pull was cleaned", free)
	}
	d.berth("pull", small)
	if _, err := os.Stat(filepath.Join(d.root, "metadata.db")); err != nil {
		t.Error(err)
	}
}
