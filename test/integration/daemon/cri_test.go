package daemon_test

import (
	"context"
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	reg "github.com/berth-dev/berth/internal/testutil/registry"
)

// criClients dials the daemon's CRI socket.
func (d *daemon) criClients(t *testing.T) (runtimeapi.RuntimeServiceClient, runtimeapi.ImageServiceClient) {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+filepath.Join(d.state, "cri.sock"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return runtimeapi.NewRuntimeServiceClient(conn), runtimeapi.NewImageServiceClient(conn)
}

// TestCRIImages: the CRI's version, status and image service, against a
// registry with basic auth; CRI and berth share the image store.
func TestCRIImages(t *testing.T) {
	r := reg.Start(t, reg.WithBasicAuth("alice", "s3cret"))
	ref := r.Ref("cri/busybox:1")
	reg.Push(t, ref, reg.BusyboxImage(t), r.Auth())
	d := startDaemon(t, "")
	rt, im := d.criClients(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	v, err := rt.Version(ctx, &runtimeapi.VersionRequest{})
	if err != nil || v.RuntimeName != "berth" || v.RuntimeApiVersion != "v1" {
		t.Fatalf("Version: %+v %v", v, err)
	}
	st, err := rt.Status(ctx, &runtimeapi.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range st.Status.Conditions {
		if !c.Status {
			t.Errorf("Status: condition %s is false: %s %s", c.Type, c.Reason, c.Message)
		}
	}
	if rc, err := rt.RuntimeConfig(ctx, &runtimeapi.RuntimeConfigRequest{}); err != nil || rc.Linux.CgroupDriver != runtimeapi.CgroupDriver_CGROUPFS {
		t.Errorf("RuntimeConfig: %+v %v", rc, err)
	}

	// Without credentials the pull is refused; with them it works.
	if _, err := im.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: ref}}); err == nil {
		t.Errorf("anonymous pull from a registry with auth succeeded")
	}
	if _, err := im.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: ref},
		Auth: &runtimeapi.AuthConfig{Auth: base64.StdEncoding.EncodeToString([]byte("alice:wrong"))}}); err == nil {
		t.Errorf("pull with a wrong password succeeded")
	}
	pr, err := im.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: ref},
		Auth: &runtimeapi.AuthConfig{Username: "alice", Password: "s3cret"}})
	if err != nil || !strings.HasPrefix(pr.ImageRef, "sha256:") {
		t.Fatalf("PullImage: %+v %v", pr, err)
	}
	list, err := im.ListImages(ctx, &runtimeapi.ListImagesRequest{})
	if err != nil || len(list.Images) != 1 || list.Images[0].Id != pr.ImageRef || !strings.Contains(strings.Join(list.Images[0].RepoTags, " "), ref) {
		t.Fatalf("ListImages: %+v %v", list, err)
	}
	if out := d.berth("images", "--format", "{{.Repository}}:{{.Tag}}"); !strings.Contains(out, ref) {
		t.Errorf("berth images does not show the CRI's image: %s", out)
	}
	for _, name := range []string{ref, pr.ImageRef, pr.ImageRef[len("sha256:"):][:12]} {
		s, err := im.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: name}})
		if err != nil || s.Image == nil || s.Image.Id != pr.ImageRef || s.Image.Size == 0 {
			t.Errorf("ImageStatus(%s): %+v %v", name, s, err)
		}
	}
	fi, err := im.ImageFsInfo(ctx, &runtimeapi.ImageFsInfoRequest{})
	if err != nil || len(fi.ImageFilesystems) != 1 || fi.ImageFilesystems[0].UsedBytes.Value == 0 || fi.ImageFilesystems[0].InodesUsed.Value == 0 {
		t.Errorf("ImageFsInfo: %+v %v", fi, err)
	}
	if _, err := im.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: ref}}); err != nil {
		t.Fatal(err)
	}
	if s, err := im.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: ref}}); err != nil || s.Image != nil {
		t.Errorf("ImageStatus after removal: %+v %v", s, err)
	}
	// Idempotent: removing what is gone is fine.
	if _, err := im.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: ref}}); err != nil {
		t.Errorf("second RemoveImage: %v", err)
	}
	// Bad input: clear codes.
	for _, bad := range []string{"", "Upper:x", "busybox:bad tag", "a:b:c"} {
		_, err := im.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: bad}})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("PullImage(%q): %v, want InvalidArgument", bad, err)
		}
	}
	if _, err := im.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: r.Ref("cri/nosuch:1")},
		Auth: &runtimeapi.AuthConfig{Username: "alice", Password: "s3cret"}}); status.Code(err) != codes.NotFound {
		t.Errorf("PullImage of a missing image: %v, want NotFound", err)
	}
	if blobs, snaps, _ := d.counts(); blobs != 0 || snaps != 0 {
		t.Errorf("after removal: %d blobs, %d snapshots", blobs, snaps)
	}
}
