package daemon_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	reg "github.com/berth-dev/berth/internal/testutil/registry"
)

func TestGCRemovesUnreferenced(t *testing.T) {
	r := reg.Start(t)
	d := startDaemon(t, "")
	base := reg.BusyboxImage(t)
	a := r.Ref("it/a:1")
	b := r.Ref("it/b:1")
	reg.Push(t, a, base)
	reg.Push(t, b, reg.BusyboxImage(t, reg.WithLayer(reg.Reg("only-b", 0o644, "b"))))
	d.berth("pull", a)
	d.berth("pull", b)
	blobs, snaps, _ := d.counts()
	// a: manifest, config, layer; b adds manifest, config, one layer (shares busybox).
	if blobs != 6 || snaps != 2 {
		t.Errorf("after two pulls: %d blobs, %d snapshots; want 6 and 2", blobs, snaps)
	}
	d.berth("tag", a, "extra:tag")
	// Removing one of two names keeps the image.
	if out := d.berth("rmi", a); strings.Contains(out, "Deleted") {
		t.Errorf("rmi of one tag deleted the image: %s", out)
	}
	if b2, _, _ := d.counts(); b2 != blobs {
		t.Errorf("blobs went from %d to %d while the image is still tagged", blobs, b2)
	}
	// Removing by ID with two names needs force.
	id := d.inspect(b, "{{.Id}}")
	d.berth("tag", b, "b-alias:1")
	if msg := d.berthFail("rmi", id[7:19]); !strings.Contains(msg, "must be forced") {
		t.Errorf("rmi of a multiply-tagged ID: %s", msg)
	}
	d.berth("rmi", "-f", id[7:19])
	if blobs, snaps, _ := d.counts(); blobs != 3 || snaps != 1 {
		t.Errorf("after removing b: %d blobs, %d snapshots; want 3 and 1 (the shared layer stays)", blobs, snaps)
	}
	d.berth("rmi", "extra:tag")
	if blobs, snaps, ingests := d.counts(); blobs+snaps+ingests != 0 {
		t.Errorf("after removing everything: %d blobs, %d snapshots, %d ingests", blobs, snaps, ingests)
	}
	if msg := d.berthFail("rmi", "nope:1"); !strings.Contains(msg, "No such image: nope:1") {
		t.Errorf("rmi unknown: %s", msg)
	}
	// Prune removes dangling images (left by a tag that moved).
	reg.Push(t, a, base)
	d.berth("pull", a)
	reg.Push(t, a, reg.BusyboxImage(t, reg.WithLayer(reg.Reg("v2", 0o644, "2"))))
	d.berth("pull", a)
	if out := d.berth("images", "--filter", "dangling=true", "-q"); strings.TrimSpace(out) == "" {
		t.Errorf("no dangling image after the tag moved")
	}
	out := d.berth("image", "prune", "-f")
	if !strings.Contains(out, "deleted: sha256:") || !strings.Contains(out, "Total reclaimed space") {
		t.Errorf("prune: %s", out)
	}
	if out := d.berth("images", "-q"); len(strings.Fields(out)) != 1 {
		t.Errorf("after prune: %q", out)
	}
}

func TestConcurrentPullsDownloadOnce(t *testing.T) {
	var mu sync.Mutex
	gets := map[string]int{}
	r := reg.Start(t, reg.WithProxyFault(func(w http.ResponseWriter, req *http.Request) bool {
		if reg.BlobGet(req) {
			mu.Lock()
			gets[req.URL.Path]++
			mu.Unlock()
			time.Sleep(50 * time.Millisecond) // let the pulls overlap
		}
		return false
	}))
	d := startDaemon(t, "")
	ref := r.Ref("it/shared:1")
	img := reg.BigImage(t, 3, 12, 300)
	reg.Push(t, ref, img)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, stderr, err := d.run(binary(t, "BERTH", "berth"), "pull", "-q", ref)
			if err != nil {
				errs[i] = fmt.Errorf("%v: %s", err, stderr)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		dg, _ := l.Digest()
		if n := gets["/v2/it/shared/blobs/"+dg.String()]; n != 1 {
			t.Errorf("layer %s downloaded %d times by 4 concurrent pulls, want once", dg, n)
		}
	}
	if blobs, snaps, _ := d.counts(); snaps != 3 || blobs != 5 {
		t.Errorf("%d blobs, %d snapshots after 4 concurrent pulls; want 5 and 3", blobs, snaps)
	}
}

func TestInterruptedPullIsReclaimed(t *testing.T) {
	r := reg.Start(t, reg.WithProxyFault(func(w http.ResponseWriter, req *http.Request) bool {
		if reg.BlobGet(req) {
			time.Sleep(300 * time.Millisecond)
		}
		return false
	}))
	d := startDaemon(t, "")
	ref := r.Ref("it/big:1")
	reg.Push(t, ref, reg.BigImage(t, 4, 24, 400))
	cmd := exec.Command(binary(t, "BERTH", "berth"), "pull", ref)
	cmd.Env = append(os.Environ(), "BERTH_HOST=unix://"+d.sock)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Crash the daemon while layers are in flight.
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, snaps, ingests := d.counts()
		if snaps > 0 || ingests > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("pull never started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	d.kill()
	cmd.Wait()
	d.start() // recovery: stale leases dropped, garbage collected
	if out := d.berth("images", "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("a half-pulled image is listed: %q", out)
	}
	entries, _ := os.ReadDir(filepath.Join(d.root, "snapshots", "overlay", "snapshots"))
	if len(entries) != 0 {
		t.Errorf("%d snapshots survive the crash and restart", len(entries))
	}
	// The next pull resumes and completes; removing the image then
	// leaves nothing at all.
	d.berth("pull", ref)
	d.berth("rmi", ref)
	if blobs, snaps, ingests := d.counts(); blobs+snaps+ingests != 0 {
		t.Errorf("after rmi: %d blobs, %d snapshots, %d ingests", blobs, snaps, ingests)
	}
}

func TestDaemonSingleInstanceAndShutdown(t *testing.T) {
	d := startDaemon(t, "")
	cmd := exec.Command(binary(t, "BERTHD", "berthd"), "--root", d.root, "--state", t.TempDir())
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "another berthd is running") {
		t.Errorf("second daemon on the same root: %v %s", err, out)
	}
	cmd = exec.Command(binary(t, "BERTHD", "berthd"), "--root", t.TempDir(), "--state", d.state)
	out, err = cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "in use") {
		t.Errorf("second daemon on the same socket: %v %s", err, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(bad, []byte("snapshotter = \"zfs\"\n"), 0o644)
	out, err = exec.Command(binary(t, "BERTHD", "berthd"), "--config", bad, "--root", t.TempDir(), "--state", t.TempDir()).CombinedOutput()
	if err == nil || !strings.Contains(string(out), `snapshotter "zfs"`) {
		t.Errorf("bad config: %v %s", err, out)
	}
	os.WriteFile(bad, []byte("no_such_key = 1\n"), 0o644)
	out, err = exec.Command(binary(t, "BERTHD", "berthd"), "--config", bad, "--root", t.TempDir(), "--state", t.TempDir()).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "unknown keys: no_such_key") {
		t.Errorf("unknown config key: %v %s", err, out)
	}
	// SIGTERM: clean exit, socket removed.
	d.cmd.Process.Signal(syscall.SIGTERM)
	if err := d.cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
	d.cmd = nil
	if _, err := os.Stat(d.sock); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
}

func TestEventsAndMirror(t *testing.T) {
	r := reg.Start(t)
	// docker.io names resolve through the mirror (no internet here).
	d := startDaemon(t, fmt.Sprintf("[registry.mirrors]\n\"docker.io\" = [\"http://%s\"]\n", r.Host))
	reg.Push(t, r.Ref("library/mirrored:1"), reg.BusyboxImage(t))
	since := fmt.Sprint(time.Now().Add(-time.Second).Unix())
	d.berth("pull", "mirrored:1")
	d.berth("tag", "mirrored:1", "other:2")
	d.berth("rmi", "other:2")
	if id := d.inspect("docker.io/library/mirrored:1", "{{.Id}}"); !strings.HasPrefix(id, "sha256:") {
		t.Errorf("mirrored image: %q", id)
	}
	out := d.berth("events", "--since", since, "--until", fmt.Sprint(time.Now().Add(time.Second).Unix()), "--filter", "type=image")
	for _, want := range []string{"image pull docker.io/library/mirrored:1", "image tag docker.io/library/other:2", "image untag other:2"} {
		if !strings.Contains(out, want) {
			t.Errorf("events lack %q:\n%s", want, out)
		}
	}
}
