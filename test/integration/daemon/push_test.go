package daemon_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	reg "github.com/berth-dev/berth/internal/testutil/registry"
)

func TestPushRoundTripAndMount(t *testing.T) {
	r := reg.Start(t, reg.WithProxyFault(nil)) // a plain proxy logs requests
	d := startDaemon(t, "")
	src := r.Ref("it/src:1")
	reg.Push(t, src, reg.BusyboxImage(t, reg.WithLayer(reg.Reg("hello", 0o644, "world"))))
	d.berth("pull", src)
	id := d.inspect(src, "{{.Id}}")

	// Same registry, other repository: layers are mounted, not uploaded.
	dst := r.Ref("it/dst:2")
	d.berth("tag", src, dst)
	out := d.berth("push", dst)
	if !strings.Contains(out, "Mounted from "+r.Host+"/it/src") || !strings.Contains(out, "2: digest: sha256:") {
		t.Errorf("push output:\n%s", out)
	}
	var mounts, patches int
	for _, req := range r.Requests() {
		if strings.HasPrefix(req, "POST ") && strings.Contains(req, "mount=") {
			mounts++
		}
		if strings.HasPrefix(req, "PATCH ") && strings.Contains(req, "/it/dst/") {
			patches++
		}
	}
	if mounts == 0 {
		t.Errorf("no cross-repository mount requested: %v", r.Requests())
	}
	// Pushing again finds everything there.
	if out := d.berth("push", dst); !strings.Contains(out, "Layer already exists") {
		t.Errorf("second push:\n%s", out)
	}
	// A fresh daemon pulls what was pushed: same image.
	d2 := startDaemon(t, "")
	d2.berth("pull", dst)
	if got := d2.inspect(dst, "{{.Id}}"); got != id {
		t.Errorf("pulled back %s, pushed %s", got, id)
	}

	// A new repository on an empty registry: chunked upload.
	r2 := reg.Start(t, reg.WithProxyFault(nil))
	fresh := r2.Ref("it/fresh:latest")
	d.berth("tag", src, fresh)
	d.berth("push", fresh)
	for _, req := range r2.Requests() {
		if strings.HasPrefix(req, "PATCH ") {
			patches++
		}
	}
	if patches == 0 {
		t.Errorf("no chunked upload (PATCH) seen: %v", r2.Requests())
	}
	d2.berth("pull", fresh)
	if got := d2.inspect(fresh, "{{.Id}}"); got != id {
		t.Errorf("fresh repository: pulled %s, pushed %s", got, id)
	}
	msg := d.berthFail("push", r.Ref("it/nonexistent:tag"))
	if !strings.Contains(msg, "No such image") && !strings.Contains(msg, "does not exist") {
		t.Errorf("push of an unknown image: %s", msg)
	}
}

func TestAuthLoginPullPush(t *testing.T) {
	tests := []struct {
		name string
		opt  reg.Option
	}{
		{"token", reg.WithTokenAuth("alice", "s3cret")},
		{"basic", reg.WithBasicAuth("alice", "s3cret")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := reg.Start(t, tc.opt)
			d := startDaemon(t, "")
			ref := r.Ref("private/app:1")
			reg.Push(t, ref, reg.BusyboxImage(t), r.Auth())

			msg := d.berthFail("pull", ref)
			if !strings.Contains(msg, "denied") && !strings.Contains(msg, "unauthorized") && !strings.Contains(msg, "401") {
				t.Errorf("anonymous pull: %s", msg)
			}
			msg = d.berthFail("login", "-u", "alice", "-p", "wrong", r.Host)
			if !strings.Contains(msg, "incorrect username or password") {
				t.Errorf("bad login: %s", msg)
			}
			if out := d.berth("login", "-u", "alice", "-p", "s3cret", r.Host); !strings.Contains(out, "Login Succeeded") {
				t.Errorf("login: %s", out)
			}
			cfg, err := os.ReadFile(filepath.Join(d.config, "config.json"))
			if err != nil || !strings.Contains(string(cfg), r.Host) {
				t.Fatalf("credentials not stored: %s %v", cfg, err)
			}
			d.berth("pull", ref)
			d.berth("tag", ref, r.Ref("private/copy:1"))
			d.berth("push", r.Ref("private/copy:1"))
			if out := d.berth("logout", r.Host); !strings.Contains(out, "Removing login credentials") {
				t.Errorf("logout: %s", out)
			}
			d.berth("rmi", ref)
			d.berthFail("pull", ref)
		})
	}
}
