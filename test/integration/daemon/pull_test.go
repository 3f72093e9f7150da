package daemon_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/internal/images"
	reg "github.com/berth-dev/berth/internal/testutil/registry"
)

// topChain computes an image's top chain ID from its diff IDs.
func (d *daemon) topChain(image string) string {
	d.t.Helper()
	var layers []digest.Digest
	if err := json.Unmarshal([]byte(d.inspect(image, "{{json .RootFS.Layers}}")), &layers); err != nil {
		d.t.Fatal(err)
	}
	ch := images.ChainIDs(layers)
	return ch[len(ch)-1].String()
}

func TestPullUnpackInspect(t *testing.T) {
	for _, sn := range []string{"overlay", "native"} {
		t.Run(sn, func(t *testing.T) { testPullUnpackInspect(t, sn) })
	}
}

func testPullUnpackInspect(t *testing.T, snapshotter string) {
	r := reg.Start(t)
	d := startDaemon(t, "snapshotter = \""+snapshotter+"\"\n")
	img := reg.BusyboxImage(t,
		reg.WithLayer(reg.Reg("etc/motd", 0o644, "hello from layer 2\n"), reg.Dir("srv", 0o755), reg.Reg("srv/a", 0o600, "a"), reg.Reg("srv/b", 0o644, "b"), reg.Reg("gone", 0o644, "x")),
		reg.WithLayer(reg.Whiteout("gone"), reg.OpaqueWhiteout("srv"), reg.Reg("srv/c", 0o644, "c")),
		reg.WithEntrypoint("/bin/sh", "-c"), reg.WithCmd("echo hi"), reg.WithEnv("FOO=bar"), reg.WithWorkingDir("/srv"),
		reg.WithUser("1000:1000"), reg.WithExposedPorts("80/tcp"), reg.WithVolumes("/data"), reg.WithStopSignal("SIGQUIT"),
		reg.WithLabels(map[string]string{"org.example": "yes"}))
	ref := r.Ref("it/busybox:1.0")
	reg.Push(t, ref, img)

	out := d.berth("pull", ref)
	for _, want := range []string{"Pulling from", "Pull complete", "Digest: sha256:", "Status: Downloaded newer image for " + ref} {
		if !strings.Contains(out, want) {
			t.Errorf("pull output lacks %q:\n%s", want, out)
		}
	}
	// A second pull is a no-op that says so.
	if out := d.berth("pull", ref); !strings.Contains(out, "Image is up to date") {
		t.Errorf("second pull: %s", out)
	}
	list := d.berth("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}")
	if !strings.Contains(list, r.Host+"/it/busybox:1.0 ") {
		t.Errorf("images: %s", list)
	}
	wantID, _ := img.ConfigName()
	if id := d.inspect(ref, "{{.Id}}"); id != wantID.String() {
		t.Errorf("image ID %s, want the config digest %s", id, wantID)
	}
	for tmpl, want := range map[string]string{
		"{{json .Config.Entrypoint}}":              `["/bin/sh","-c"]`,
		"{{json .Config.Cmd}}":                     `["echo hi"]`,
		"{{.Config.WorkingDir}}":                   "/srv",
		"{{.Config.User}}":                         "1000:1000",
		"{{.Config.StopSignal}}":                   "SIGQUIT",
		"{{json .Config.ExposedPorts}}":            `{"80/tcp":{}}`,
		"{{json .Config.Volumes}}":                 `{"/data":{}}`,
		"{{index .Config.Labels \"org.example\"}}": "yes",
		"{{len .RootFS.Layers}}":                   "3",
		"{{.Os}}/{{.Architecture}}":                "linux/amd64",
	} {
		if got := d.inspect(ref, tmpl); got != want {
			t.Errorf("inspect %s = %s, want %s", tmpl, got, want)
		}
	}
	if env := d.inspect(ref, "{{json .Config.Env}}"); !strings.Contains(env, "FOO=bar") || !strings.Contains(env, "PATH=") {
		t.Errorf("env %s", env)
	}
	if rd := d.inspect(ref, "{{index .RepoDigests 0}}"); !strings.HasPrefix(rd, r.Host+"/it/busybox@sha256:") {
		t.Errorf("repo digest %s", rd)
	}
	// The unpacked tree, through the snapshot, with whiteouts applied;
	// and the daemon's state survives a restart.
	chain := d.topChain(ref)
	d.stop()
	root := d.rootfs(chain)
	for path, want := range map[string]string{"etc/motd": "hello from layer 2\n", "srv/c": "c"} {
		if b, err := os.ReadFile(filepath.Join(root, path)); err != nil || string(b) != want {
			t.Errorf("%s: %q %v", path, b, err)
		}
	}
	for _, gone := range []string{"gone", "srv/a", "srv/b"} {
		if _, err := os.Lstat(filepath.Join(root, gone)); !os.IsNotExist(err) {
			t.Errorf("%s should be whited out: %v", gone, err)
		}
	}
	if st, err := os.Stat(filepath.Join(root, "bin/busybox")); err != nil || st.Mode()&0o111 == 0 {
		t.Errorf("bin/busybox: %v", err)
	}
	if target, err := os.Readlink(filepath.Join(root, "bin/sh")); err != nil || target != "busybox" {
		t.Errorf("bin/sh -> %q %v", target, err)
	}
	d.start()
	if id := d.inspect(ref, "{{.Id}}"); id != wantID.String() {
		t.Errorf("after restart: %s", id)
	}
}

func TestPullMultiArchAndCompression(t *testing.T) {
	r := reg.Start(t)
	d := startDaemon(t, "")
	amd64 := reg.Platform{OS: "linux", Architecture: "amd64"}
	arm64 := reg.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	tests := []struct {
		name   string
		docker bool
		comp   reg.Compression
	}{
		{"oci-zstd", false, reg.Zstd},
		{"oci-plain", false, reg.Uncompressed},
		{"docker-gzip", true, reg.Gzip},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := []reg.ImageOption{reg.WithCompression(tc.comp)}
			if tc.docker {
				opts = append(opts, reg.WithDockerMediaTypes())
			}
			idx := reg.MultiArch(t, map[reg.Platform]v1.Image{
				amd64: reg.BusyboxImage(t, append(opts, reg.WithLayer(reg.Reg("arch", 0o644, "amd64")))...),
				arm64: reg.Image(t, append(opts, reg.WithLayer(reg.Reg("arch", 0o644, "arm64")), reg.WithPlatform(arm64))...),
			}, opts...)
			ref := r.Ref("it/multi-" + tc.name + ":v1")
			reg.Push(t, ref, idx)
			d.berth("pull", ref)
			if got := d.inspect(ref, "{{.Architecture}}"); got != "amd64" {
				t.Errorf("default platform pulled %s", got)
			}
			amdID := d.inspect(ref, "{{.Id}}")
			d.berth("pull", "--platform", "linux/arm64", ref)
			if got := d.inspect(ref, "{{.Architecture}}/{{.Variant}}"); got != "arm64/v8" {
				t.Errorf("--platform linux/arm64 pulled %s", got)
			}
			// The amd64 image lost its tag but is still there, dangling.
			if out := d.berth("images", "-q", "--no-trunc"); !strings.Contains(out, amdID) {
				t.Errorf("amd64 image gone after the tag moved: %s", out)
			}
			msg := d.berthFail("pull", "--platform", "linux/s390x", ref)
			if !strings.Contains(msg, "no matching manifest for linux/s390x") {
				t.Errorf("unknown platform: %s", msg)
			}
		})
	}
}
