package daemon_test

import (
	"path/filepath"
	"strings"
	"testing"

	reg "github.com/berth-dev/berth/internal/testutil/registry"
)

// TestDockerCLI drives berthd with the real docker CLI.
func TestDockerCLI(t *testing.T) {
	r := reg.Start(t)
	d := startDaemon(t, "")
	ref := r.Ref("it/dockercli:v1")
	reg.Push(t, ref, reg.BusyboxImage(t, reg.WithLayer(reg.Reg("x", 0o644, "y"))))

	out := d.docker("pull", ref)
	if !strings.Contains(out, "Downloaded newer image") {
		t.Errorf("docker pull: %s", out)
	}
	if out := d.docker("images", "--format", "{{.Repository}}:{{.Tag}}"); !strings.Contains(out, r.Host+"/it/dockercli:v1") {
		t.Errorf("docker images: %s", out)
	}
	id := strings.TrimSpace(d.docker("inspect", "--format", "{{.Id}}", ref))
	if !strings.HasPrefix(id, "sha256:") {
		t.Errorf("docker inspect id %q", id)
	}
	d.docker("tag", ref, "local/alias:2")
	if got := strings.TrimSpace(d.docker("image", "inspect", "--format", "{{.Id}}", "local/alias:2")); got != id {
		t.Errorf("tag points at %s, want %s", got, id)
	}
	tar := filepath.Join(t.TempDir(), "save.tar")
	d.docker("save", "-o", tar, "local/alias:2")
	out = d.docker("rmi", "local/alias:2", ref)
	if !strings.Contains(out, "Deleted: "+id) {
		t.Errorf("docker rmi: %s", out)
	}
	if out := d.docker("images", "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("images left: %s", out)
	}
	if blobs, snaps, _ := d.counts(); blobs != 0 || snaps != 0 {
		t.Errorf("after rmi: %d blobs, %d snapshots left", blobs, snaps)
	}
	out = d.docker("load", "-i", tar)
	if !strings.Contains(out, "Loaded image: local/alias:2") {
		t.Errorf("docker load: %s", out)
	}
	if got := strings.TrimSpace(d.docker("inspect", "--format", "{{.Id}}", "local/alias:2")); got != id {
		t.Errorf("loaded %s, saved %s", got, id)
	}
	d.docker("system", "df")
	d.docker("info")
}
