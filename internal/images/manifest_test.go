package images

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/errdefs"
)

func TestSelectManifest(t *testing.T) {
	d := func(s string) digest.Digest { return digest.FromString(s) }
	idx := ocispec.Index{Manifests: []ocispec.Descriptor{
		{MediaType: ocispec.MediaTypeImageManifest, Digest: d("arm"), Platform: &ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}},
		{MediaType: ocispec.MediaTypeImageManifest, Digest: d("arm64"), Platform: &ocispec.Platform{OS: "linux", Architecture: "arm64"}},
		{MediaType: ocispec.MediaTypeImageManifest, Digest: d("amd64"), Platform: &ocispec.Platform{OS: "linux", Architecture: "amd64"}},
		{MediaType: ocispec.MediaTypeImageManifest, Digest: d("att"), Platform: &ocispec.Platform{OS: "unknown", Architecture: "unknown"}},
	}}
	tests := []struct {
		platform string
		want     digest.Digest
		err      string
	}{
		{"linux/amd64", d("amd64"), ""},
		{"linux/arm64", d("arm64"), ""},
		{"linux/arm64/v8", d("arm64"), ""},
		{"linux/aarch64", d("arm64"), ""},
		{"linux/arm/v7", d("arm"), ""},
		{"linux/arm/v6", "", "no matching manifest for linux/arm/v6"},
		{"windows/amd64", "", "available: linux/arm/v7, linux/arm64, linux/amd64"},
	}
	for _, tc := range tests {
		p, err := ParsePlatform(tc.platform)
		if err != nil {
			t.Fatal(err)
		}
		got, err := SelectManifest(idx, p)
		if tc.err != "" {
			if !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want %q", tc.platform, err, tc.err)
			}
			continue
		}
		if err != nil || got.Digest != tc.want {
			t.Errorf("%s: %v %v", tc.platform, got.Digest, err)
		}
	}
	if _, err := ParsePlatform("a/b/c/d"); !errdefs.IsInvalidArgument(err) {
		t.Errorf("bad platform: %v", err)
	}
}

func TestParseManifestErrors(t *testing.T) {
	good := digest.FromString("x").String()
	tests := []struct{ name, body, err string }{
		{"not json", "{", "malformed image manifest"},
		{"bad config digest", `{"config":{"digest":"sha256:zz","size":1}}`, "invalid digest"},
		{"negative size", `{"config":{"digest":"` + good + `","size":-1}}`, "negative size"},
		{"unknown layer type", `{"config":{"digest":"` + good + `","size":1},"layers":[{"mediaType":"text/plain","digest":"` + good + `","size":1}]}`, "unsupported media type"},
		{"wrong media type", `{"mediaType":"application/vnd.oci.image.index.v1+json","config":{"digest":"` + good + `","size":1}}`, "media type"},
	}
	for _, tc := range tests {
		if _, err := ParseManifest([]byte(tc.body)); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.err)
		}
	}
}

func TestParseConfigAndChain(t *testing.T) {
	a, b := digest.FromString("a"), digest.FromString("b")
	cfg := ocispec.Image{RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{a, b}}}
	raw, _ := json.Marshal(cfg)
	if _, err := ParseConfig(raw, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseConfig(raw, 3); err == nil || !strings.Contains(err.Error(), "2 diff_ids for 3 layers") {
		t.Errorf("layer count mismatch: %v", err)
	}
	ch := ChainIDs([]digest.Digest{a, b})
	if ch[0] != a || ch[1] != digest.FromString(a.String()+" "+b.String()) {
		t.Errorf("chain ids %v", ch)
	}
}

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"config":{"digest":"sha256:` + strings.Repeat("a", 64) + `","size":2},"layers":[]}`))
	f.Add([]byte(`{"manifests":[{"digest":"sha256:` + strings.Repeat("b", 64) + `","size":3,"platform":{"os":"linux","architecture":"amd64"}}]}`))
	f.Add([]byte(`{"rootfs":{"type":"layers","diff_ids":[]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := ParseManifest(b); err == nil {
			if m.Config.Digest.Validate() != nil {
				t.Fatal("accepted a manifest with an invalid config digest")
			}
		}
		if idx, err := ParseIndex(b); err == nil {
			SelectManifest(idx, DefaultPlatform())
		}
		ParseConfig(b, -1)
	})
}
