package daemon_test

import (
	"archive/tar"
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	reg "github.com/berth-dev/berth/internal/testutil/registry"
)

// clean asserts a failed operation left no blob, snapshot or ingest
// beyond what was there before (GC runs on restart).
func (d *daemon) assertNoLeftovers(before [3]int) {
	d.t.Helper()
	d.restart() // startup drops stale leases and collects
	b, s, _ := d.counts()
	if b > before[0] || s > before[1] {
		d.t.Errorf("left behind: %d blobs (had %d), %d snapshots (had %d)", b, before[0], s, before[1])
	}
}

func TestPullBadInput(t *testing.T) {
	var fault atomic.Value // of reg.Fault
	fault.Store(reg.Fault(nil))
	r := reg.Start(t, reg.WithProxyFault(func(w http.ResponseWriter, req *http.Request) bool {
		if f, _ := fault.Load().(reg.Fault); f != nil {
			return f(w, req)
		}
		return false
	}))
	d := startDaemon(t, "")
	ref := r.Ref("it/victim:1")
	reg.Push(t, ref, reg.BusyboxImage(t, reg.WithLayer(reg.Reg("data", 0o644, strings.Repeat("payload ", 50000)))))
	counts := func() [3]int { b, s, i := d.counts(); return [3]int{b, s, i} }

	tests := []struct {
		name     string
		args     []string
		fault    reg.Fault
		wantErr  string // "" = the pull must succeed despite the fault
		leftover bool   // check nothing was committed
	}{
		{"invalid reference", []string{"pull", "UPPER/Case:tag"}, nil, "invalid reference format", false},
		{"bad tag chars", []string{"pull", "busybox:bad!tag"}, nil, "invalid reference format", false},
		{"unknown tag", []string{"pull", r.Ref("it/victim:nope")}, nil, "manifest unknown", true},
		{"unknown repository", []string{"pull", r.Ref("it/none:1")}, nil, "manifest unknown", true},
		{"registry down", []string{"pull", "127.0.0.1:1/x:1"}, nil, "connection refused", true},
		{"persistent 500", []string{"pull", ref}, reg.FailWith(500, reg.BlobGet), "500", true},
		{"transient 503 is retried", []string{"pull", ref}, reg.Times(2, reg.FailWith(503, reg.BlobGet)), "", false},
		{"transient 429 is retried", []string{"pull", ref}, reg.Times(1, reg.FailWith(429, reg.ManifestGet)), "", false},
		{"corrupt blob", []string{"pull", ref}, reg.CorruptBody(reg.BlobGet), "digest", true},
		{"truncated download resumes", []string{"pull", ref}, reg.Times(1, reg.TruncateBody(100000, reg.BlobGet)), "", false},
		{"malformed manifest", []string{"pull", ref}, serveManifest(`{"schemaVersion":2,"config":{"digest":"sha256:zz"`), "malformed", true},
		{"huge manifest", []string{"pull", ref}, serveManifest(`{"pad":"` + strings.Repeat("x", 5<<20) + `"}`), "limit", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d.t = t
			defer func() { d.t = nil }()
			d.run(binary(t, "BERTH", "berth"), "rmi", "-f", ref) // start from nothing (may not exist)
			before := counts()
			fault.Store(tc.fault)
			defer fault.Store(reg.Fault(nil))
			if tc.wantErr == "" {
				d.berth(tc.args...)
				return
			}
			msg := d.berthFail(tc.args...)
			if tc.wantErr != "" && !strings.Contains(msg, tc.wantErr) {
				t.Errorf("error %q does not mention %q", msg, tc.wantErr)
			}
			if !strings.HasPrefix(msg, "Error") || strings.Count(msg, "\n") > 3 {
				t.Errorf("not a clear one-line error: %q", msg)
			}
			fault.Store(reg.Fault(nil))
			if tc.leftover {
				d.assertNoLeftovers(before)
			}
			// And a later pull succeeds.
			if strings.HasPrefix(tc.args[1], r.Host+"/it/victim:1") {
				d.berth("pull", ref)
			}
		})
	}
}

// serveManifest answers manifest GETs with body.
func serveManifest(body string) reg.Fault {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if !reg.ManifestGet(r) {
			return false
		}
		w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		w.Write([]byte(body))
		return true
	}
}

func TestLoadBadInput(t *testing.T) {
	d := startDaemon(t, "")
	dir := t.TempDir()
	notTar := filepath.Join(dir, "not.tar")
	os.WriteFile(notTar, []byte("this is not a tarball at all, just text"), 0o644)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "hello.txt", Mode: 0o644, Size: 5, ModTime: time.Unix(0, 0)})
	tw.Write([]byte("hello"))
	tw.Close()
	plainTar := filepath.Join(dir, "plain.tar")
	os.WriteFile(plainTar, buf.Bytes(), 0o644)
	buf.Reset()
	tw = tar.NewWriter(&buf)
	bad := `[{"Config":"cfg.json","RepoTags":["x:1"],"Layers":["missing/layer.tar"]}]`
	tw.WriteHeader(&tar.Header{Name: "manifest.json", Mode: 0o644, Size: int64(len(bad)), ModTime: time.Unix(0, 0)})
	tw.Write([]byte(bad))
	tw.Close()
	missing := filepath.Join(dir, "missing.tar")
	os.WriteFile(missing, buf.Bytes(), 0o644)

	for name, c := range map[string]struct{ file, want string }{
		"not a tar":      {notTar, "invalid image archive"},
		"tar, no image":  {plainTar, "no manifest.json or index.json"},
		"missing layers": {missing, "is missing"},
	} {
		t.Run(name, func(t *testing.T) {
			d.t = t
			msg := d.berthFail("load", "-i", c.file)
			if !strings.Contains(msg, c.want) {
				t.Errorf("load %s: %q, want %q", name, msg, c.want)
			}
		})
	}
	d.t = t
	if out := d.berth("images", "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("images after failed loads: %q", out)
	}
	// The fixture's own docker-archive and OCI layout load.
	img := reg.BusyboxImage(t)
	reg.SaveDockerArchive(t, filepath.Join(dir, "docker.tar"), img, "loaded/docker:1")
	if out := d.berth("load", "-i", filepath.Join(dir, "docker.tar")); !strings.Contains(out, "Loaded image: loaded/docker:1") {
		t.Errorf("docker archive: %s", out)
	}
	reg.SaveOCILayout(t, filepath.Join(dir, "oci.tar"), img, "loaded/oci:2")
	if out := d.berth("load", "-i", filepath.Join(dir, "oci.tar")); !strings.Contains(out, "loaded/oci:2") {
		t.Errorf("oci layout: %s", out)
	}
	id, _ := img.ConfigName()
	for _, n := range []string{"loaded/docker:1", "loaded/oci:2"} {
		if got := d.inspect(n, "{{.Id}}"); got != id.String() {
			t.Errorf("%s: %s, want %s", n, got, id)
		}
	}
}
