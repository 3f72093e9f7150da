package registry

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// noRetry keeps failing pulls fast.
var noRetry = remote.WithRetryBackoff(remote.Backoff{Steps: 1})

func pull(t *testing.T, ref string, auth authn.Authenticator, extra ...remote.Option) (v1.Image, error) {
	t.Helper()
	r, err := ParseRef(ref)
	if err != nil {
		t.Fatal(err)
	}
	return remote.Image(r, append(RemoteOptions(context.Background(), auth), extra...)...)
}

// readTar returns the headers and regular-file bodies of a layer.
func readTar(t *testing.T, l v1.Layer) (map[string]*tar.Header, map[string]string) {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	hdrs, bodies := map[string]*tar.Header{}, map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		hdrs[h.Name] = h
		if h.Typeflag == tar.TypeReg && h.Size < 1<<20 {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			bodies[h.Name] = string(b)
		}
	}
	return hdrs, bodies
}

// checkBusybox pulls ref and checks it is img, with a working rootfs layer.
func checkBusybox(t *testing.T, ref string, img v1.Image, auth authn.Authenticator) {
	t.Helper()
	got, err := pull(t, ref, auth)
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	want, _ := img.Digest()
	if d, err := got.Digest(); err != nil || d != want {
		t.Fatalf("pulled digest %v (%v), pushed %v", d, err, want)
	}
	layers, err := got.Layers()
	if err != nil || len(layers) == 0 {
		t.Fatalf("layers: %v %v", layers, err)
	}
	hdrs, bodies := readTar(t, layers[0])
	if h := hdrs["bin/busybox"]; h == nil || h.Mode&0o111 == 0 {
		t.Fatalf("bin/busybox missing or not executable: %+v", h)
	}
	if h := hdrs["bin/sh"]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "busybox" {
		t.Fatalf("bin/sh: %+v", h)
	}
	if h := hdrs["tmp/"]; h == nil || h.Mode != 0o1777 {
		t.Fatalf("tmp/: %+v", h)
	}
	if !strings.HasPrefix(bodies["etc/passwd"], "root:x:0:0:") {
		t.Fatalf("etc/passwd: %q", bodies["etc/passwd"])
	}
	cf, err := got.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if len(cf.Config.Cmd) != 1 || cf.Config.Cmd[0] != "sh" || len(cf.Config.Env) == 0 || !strings.HasPrefix(cf.Config.Env[0], "PATH=") {
		t.Fatalf("config: %+v", cf.Config)
	}
}

func statusOf(err error) int {
	var te *transport.Error
	if errors.As(err, &te) {
		return te.StatusCode
	}
	return 0
}

func TestAnonymousPushPull(t *testing.T) {
	r := Start(t)
	img := BusyboxImage(t)
	d := Push(t, r.Ref("library/busybox:latest"), img)
	if want, _ := img.Digest(); d != want {
		t.Fatalf("Push returned %v, want %v", d, want)
	}
	checkBusybox(t, r.Ref("library/busybox:latest"), img, nil)
	checkBusybox(t, r.Ref("library/busybox@"+d.String()), img, nil)

	// Deterministic: the same build gives the same digest.
	if d2, _ := BusyboxImage(t).Digest(); d2 != d {
		t.Fatalf("rebuilt busybox image has digest %v, first %v", d2, d)
	}
}

func TestBasicAuth(t *testing.T) {
	r := Start(t, WithBasicAuth("alice", "s3cret"))
	img := BusyboxImage(t)
	ref := r.Ref("private/busybox:1")

	if _, err := PushArtifact(context.Background(), ref, img, nil); statusOf(err) != http.StatusUnauthorized {
		t.Fatalf("anonymous push: want 401, got %v", err)
	}
	Push(t, ref, img, r.Auth())
	checkBusybox(t, ref, img, r.Auth())

	_, err := pull(t, ref, &authn.Basic{Username: "alice", Password: "wrong"}, noRetry)
	if statusOf(err) != http.StatusUnauthorized {
		t.Fatalf("wrong password: want 401, got %v", err)
	}
	resp, err := http.Get(r.URL + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
		t.Fatalf("GET /v2/: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}

func TestTokenAuth(t *testing.T) {
	r := Start(t, WithTokenAuth("bob", "hunter2"))
	img := BusyboxImage(t)
	ref := r.Ref("team/busybox:v1")

	resp, err := http.Get(r.URL + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	chal := resp.Header.Get("WWW-Authenticate")
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(chal, "Bearer ") ||
		!strings.Contains(chal, `realm="`+r.TokenRealm+`"`) || !strings.Contains(chal, `service="`+TokenService+`"`) {
		t.Fatalf("GET /v2/: %d %q", resp.StatusCode, chal)
	}

	if _, err := PushArtifact(context.Background(), ref, img, nil); statusOf(err) != http.StatusUnauthorized {
		t.Fatalf("anonymous push: want 401, got %v", err)
	}
	Push(t, ref, img, r.Auth())
	checkBusybox(t, ref, img, r.Auth())
	if _, issued := r.TokenRequests(); issued == 0 {
		t.Fatal("no token issued")
	}

	_, err = pull(t, ref, &authn.Basic{Username: "bob", Password: "wrong"}, noRetry)
	if statusOf(err) != http.StatusUnauthorized {
		t.Fatalf("wrong password: want 401, got %v", err)
	}

	// The OAuth2 form: a password grant, then a refresh grant, and the
	// token works on the registry as it is.
	form := url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {"hunter2"},
		"service": {TokenService}, "scope": {"repository:team/busybox:pull"}, "client_id": {"test"}}
	tok := postToken(t, r.TokenRealm, form)
	form = url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.Refresh},
		"service": {TokenService}, "scope": {"repository:team/busybox:pull"}, "client_id": {"test"}}
	tok = postToken(t, r.TokenRealm, form)
	req, _ := http.NewRequest(http.MethodGet, r.URL+"/v2/team/busybox/manifests/v1", nil)
	req.Header.Set("Authorization", "Bearer "+tok.Access)
	req.Header.Set("Accept", string(types.OCIManifestSchema1))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want, _ := img.Digest(); resp.StatusCode != http.StatusOK || resp.Header.Get("Docker-Content-Digest") != want.String() {
		t.Fatalf("manifest with OAuth token: %d %q", resp.StatusCode, resp.Header.Get("Docker-Content-Digest"))
	}
	// A pull-only token does not allow a push.
	req, _ = http.NewRequest(http.MethodPost, r.URL+"/v2/team/busybox/blobs/uploads/", nil)
	req.Header.Set("Authorization", "Bearer "+tok.Access)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("push with a pull token: %d", resp.StatusCode)
	}
}

type oauthToken struct {
	Access  string `json:"access_token"`
	Refresh string `json:"refresh_token"`
}

func postToken(t *testing.T, realm string, form url.Values) oauthToken {
	t.Helper()
	resp, err := http.PostForm(realm, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok oauthToken
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != 200 || tok.Access == "" || tok.Refresh == "" {
		t.Fatalf("token POST: %d %+v %v", resp.StatusCode, tok, err)
	}
	return tok
}

func TestMultiArchRoundTrip(t *testing.T) {
	r := Start(t)
	arm, _ := ParsePlatform("linux/arm64/v8")
	for _, tc := range []struct {
		name string
		opts []ImageOption
		want types.MediaType
	}{
		{"oci", nil, types.OCIImageIndex},
		{"docker", []ImageOption{WithDockerMediaTypes()}, types.DockerManifestList},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := BusyboxImage(t, tc.opts...)
			other := BusyboxImage(t, append(tc.opts, WithPlatform(arm), WithLabels(map[string]string{"arch": "arm64"}))...)
			idx := MultiArch(t, map[Platform]v1.Image{HostPlatform(): host, arm: other}, tc.opts...)
			ref := r.Ref("multi/busybox:" + tc.name)
			d := Push(t, ref, idx)

			pr, _ := ParseRef(ref)
			got, err := remote.Index(pr, RemoteOptions(context.Background(), nil)...)
			if err != nil {
				t.Fatal(err)
			}
			if gd, _ := got.Digest(); gd != d {
				t.Fatalf("index digest %v, pushed %v", gd, d)
			}
			im, err := got.IndexManifest()
			if err != nil {
				t.Fatal(err)
			}
			if im.MediaType != tc.want || len(im.Manifests) != 2 {
				t.Fatalf("index: %s with %d manifests", im.MediaType, len(im.Manifests))
			}
			img, err := remote.Image(pr, append(RemoteOptions(context.Background(), nil), remote.WithPlatform(*arm.V1()))...)
			if err != nil {
				t.Fatal(err)
			}
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if cf.Architecture != "arm64" || cf.Variant != "v8" || cf.Config.Labels["arch"] != "arm64" {
				t.Fatalf("arm64 image config: %s/%s %v", cf.Architecture, cf.Variant, cf.Config.Labels)
			}
			if mt, _ := img.MediaType(); tc.name == "docker" && mt != types.DockerManifestSchema2 {
				t.Fatalf("child manifest type %s", mt)
			}
		})
	}
}

func TestZstdAndDockerMediaTypes(t *testing.T) {
	r := Start(t)
	for _, tc := range []struct {
		name     string
		opts     []ImageOption
		manifest types.MediaType
		layer    types.MediaType
	}{
		{"zstd", []ImageOption{WithCompression(Zstd)}, types.OCIManifestSchema1, "application/vnd.oci.image.layer.v1.tar+zstd"},
		{"docker-gzip", []ImageOption{WithDockerMediaTypes()}, types.DockerManifestSchema2, types.DockerLayer},
		{"docker-zstd", []ImageOption{WithDockerMediaTypes(), WithCompression(Zstd)}, types.DockerManifestSchema2, types.OCILayerZStd},
		{"uncompressed", []ImageOption{WithCompression(Uncompressed)}, types.OCIManifestSchema1, types.OCIUncompressedLayer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := append(tc.opts, WithFiles(map[string]string{"etc/motd": "hello " + tc.name + "\n"}),
				WithUser("user"), WithWorkingDir("/home/user"), WithExposedPorts("8080/tcp"),
				WithStopSignal("SIGUSR1"), WithEntrypoint("/bin/sh", "-c"), WithCmd("cat /etc/motd"),
				WithVolumes("/data"), WithEnv("FOO=bar"))
			img := BusyboxImage(t, opts...)
			ref := r.Ref("types/busybox:" + tc.name)
			Push(t, ref, img)
			got, err := pull(t, ref, nil)
			if err != nil {
				t.Fatal(err)
			}
			m, err := got.Manifest()
			if err != nil {
				t.Fatal(err)
			}
			if m.MediaType != tc.manifest || len(m.Layers) != 2 {
				t.Fatalf("manifest %s, %d layers", m.MediaType, len(m.Layers))
			}
			for _, l := range m.Layers {
				if l.MediaType != tc.layer {
					t.Fatalf("layer media type %s, want %s", l.MediaType, tc.layer)
				}
			}
			layers, _ := got.Layers()
			_, bodies := readTar(t, layers[1])
			if bodies["etc/motd"] != "hello "+tc.name+"\n" {
				t.Fatalf("etc/motd: %q", bodies["etc/motd"])
			}
			cf, _ := got.ConfigFile()
			c := cf.Config
			if c.User != "user" || c.WorkingDir != "/home/user" || c.StopSignal != "SIGUSR1" ||
				len(c.Entrypoint) != 2 || len(c.Cmd) != 1 || len(c.Env) != 2 || c.Env[1] != "FOO=bar" {
				t.Fatalf("config: %+v", c)
			}
			if _, ok := c.ExposedPorts["8080/tcp"]; !ok {
				t.Fatalf("exposed ports: %v", c.ExposedPorts)
			}
			if _, ok := c.Volumes["/data"]; !ok {
				t.Fatalf("volumes: %v", c.Volumes)
			}
		})
	}
}

func TestFaultProxy(t *testing.T) {
	img := BusyboxImage(t)
	want, _ := img.Digest()

	t.Run("500", func(t *testing.T) {
		r := Start(t, WithProxyFault(FailWith(http.StatusInternalServerError, ManifestGet)))
		if r.Host == r.Backend {
			t.Fatal("Host does not point at the proxy")
		}
		ref := r.Ref("fault/busybox:1")
		Push(t, ref, img)
		resp, err := http.Get(r.URL + "/v2/fault/busybox/manifests/1")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusInternalServerError {
			t.Fatalf("GET manifest through the proxy: %d", resp.StatusCode)
		}
		if _, err := pull(t, ref, nil, noRetry); statusOf(err) != http.StatusInternalServerError {
			t.Fatalf("pull: want 500, got %v", err)
		}
		// The registry itself is fine.
		checkBusybox(t, r.Backend+"/fault/busybox:1", img, nil)
		if len(r.Requests()) == 0 {
			t.Fatal("proxy logged no request")
		}
	})

	t.Run("429-once", func(t *testing.T) {
		r := Start(t, WithProxyFault(Times(1, FailWith(http.StatusTooManyRequests, ManifestGet))))
		ref := r.Ref("fault/busybox:1")
		Push(t, ref, img)
		got, err := pull(t, ref, nil) // ggcr retries the 429
		if err != nil {
			t.Fatal(err)
		}
		if d, _ := got.Digest(); d != want {
			t.Fatalf("digest %v", d)
		}
	})

	ls, _ := img.Layers()
	ld, _ := ls[0].Digest()
	layerGet := func(r *http.Request) bool { return BlobGet(r) && strings.HasSuffix(r.URL.Path, ld.String()) }
	for _, tc := range []struct {
		name  string
		fault Fault
	}{
		{"corrupt", CorruptBody(layerGet)},
		{"truncate", TruncateBody(100, layerGet)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Start(t, WithProxyFault(tc.fault))
			ref := r.Ref("fault/busybox:1")
			Push(t, ref, img)
			got, err := pull(t, ref, nil, noRetry)
			if err != nil {
				t.Fatal(err)
			}
			l, err := got.LayerByDigest(ld)
			if err != nil {
				t.Fatal(err)
			}
			rc, err := l.Compressed()
			if err == nil {
				_, err = io.Copy(io.Discard, rc)
				rc.Close()
			}
			if err == nil {
				t.Fatal("reading a damaged blob succeeded")
			}
			t.Logf("damaged blob: %v", err)
		})
	}
}
