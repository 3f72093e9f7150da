// Command imagegen builds the benchmark images with the same builders the
// tests use (internal/testutil/registry) and pushes them to a registry
// over plain HTTP, or writes them as a docker archive or an OCI layout.
// The images are deterministic: the same flags (and the same
// /bin/busybox) give the same digests.
//
// With no -repo it pushes the standard set: <prefix>/busybox:latest,
// <prefix>/small:latest (~50 MiB, 3 layers, 2000 files) and
// <prefix>/large:latest (~110 MiB, 6 layers, 20000 files):
//
//	go run ./bench/imagegen -registry 127.0.0.1:5000
//	go run ./bench/imagegen -registry 127.0.0.1:5000 -repo bench/small -size 50 -layers 3 -files 2000
//	go run ./bench/imagegen -kind busybox -repo bench/busybox -docker-archive /tmp/busybox.tar
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/berth-dev/berth/internal/testutil/registry"
)

type job struct {
	repo string
	kind string // "busybox" or "big"
	spec registry.BigSpec
}

type result struct {
	Ref        string `json:"ref"`
	Digest     string `json:"digest"`
	Layers     int    `json:"layers"`
	Compressed int64  `json:"compressed_bytes"`
	Seconds    struct {
		Build float64 `json:"build"`
		Push  float64 `json:"push,omitempty"`
	} `json:"seconds"`
}

func main() {
	var (
		host     = flag.String("registry", "", "registry host:port to push to over plain HTTP (empty: do not push)")
		repo     = flag.String("repo", "", "repository (e.g. bench/small); empty: the standard set under -prefix")
		prefix   = flag.String("prefix", "bench", "repository prefix of the standard set")
		tag      = flag.String("tag", "latest", "tag")
		kind     = flag.String("kind", "big", "with -repo: big (generated files) or busybox")
		size     = flag.Int("size", 50, "big: MiB of file content")
		layers   = flag.Int("layers", 3, "big: layers")
		files    = flag.Int("files", 2000, "big: files")
		seed     = flag.Uint64("seed", 1, "big: seed of the content")
		busybox  = flag.Bool("busybox", true, "big: put busybox in the first layer so the image runs")
		comp     = flag.String("compression", "gzip", "layer compression: gzip, zstd or none")
		docker   = flag.Bool("docker", false, "Docker schema 2 media types instead of OCI")
		platform = flag.String("platform", "", "os/arch[/variant] written in the config (default linux/GOARCH)")
		user     = flag.String("user", "", "registry user (basic or token auth)")
		password = flag.String("password", "", "registry password")
		archive  = flag.String("docker-archive", "", "with -repo: also write a docker archive (docker load) here")
		ocilay   = flag.String("oci-layout", "", "with -repo: also write an OCI layout here (a tar if it ends in .tar)")
		asJSON   = flag.Bool("json", false, "print one JSON object per image")
	)
	flag.Parse()

	c, err := registry.ParseCompression(*comp)
	if err != nil {
		fatal(err)
	}
	opts := []registry.ImageOption{registry.WithCompression(c)}
	if *docker {
		opts = append(opts, registry.WithDockerMediaTypes())
	}
	if *platform != "" {
		p, err := registry.ParsePlatform(*platform)
		if err != nil {
			fatal(err)
		}
		opts = append(opts, registry.WithPlatform(p))
	}

	var jobs []job
	if *repo == "" {
		if *archive != "" || *ocilay != "" {
			fatal(errors.New("-docker-archive and -oci-layout need -repo (one image)"))
		}
		jobs = []job{
			{repo: *prefix + "/busybox", kind: "busybox"},
			{repo: *prefix + "/small", kind: "big", spec: registry.BenchSmall},
			{repo: *prefix + "/large", kind: "big", spec: registry.BenchLarge},
		}
	} else {
		spec := registry.BigSpec{Layers: *layers, TotalMB: *size, Files: *files, Seed: *seed, Busybox: *busybox}
		jobs = []job{{repo: *repo, kind: *kind, spec: spec}}
	}
	if *host == "" && *archive == "" && *ocilay == "" {
		fatal(errors.New("nothing to do: give -registry, -docker-archive or -oci-layout"))
	}

	var auth authn.Authenticator = authn.Anonymous
	if *user != "" || *password != "" {
		auth = &authn.Basic{Username: *user, Password: *password}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	for _, j := range jobs {
		start := time.Now()
		var img v1.Image
		switch j.kind {
		case "busybox":
			img, err = registry.NewBusyboxImage(opts...)
		case "big":
			img, err = registry.NewBigImage(j.spec, opts...)
		default:
			err = fmt.Errorf("unknown -kind %q (want big or busybox)", j.kind)
		}
		if err != nil {
			fatal(fmt.Errorf("%s: %w", j.repo, err))
		}
		var res result
		res.Seconds.Build = time.Since(start).Seconds()
		res.Ref = j.repo + ":" + *tag
		if *host != "" {
			res.Ref = *host + "/" + res.Ref
		}
		d, err := img.Digest()
		if err != nil {
			fatal(err)
		}
		res.Digest = d.String()
		ls, err := img.Layers()
		if err != nil {
			fatal(err)
		}
		res.Layers = len(ls)
		for _, l := range ls {
			sz, err := l.Size()
			if err != nil {
				fatal(err)
			}
			res.Compressed += sz
		}
		if *archive != "" {
			if err := registry.WriteDockerArchive(*archive, img, j.repo+":"+*tag); err != nil {
				fatal(err)
			}
		}
		if *ocilay != "" {
			if err := registry.WriteOCILayout(*ocilay, img, j.repo+":"+*tag); err != nil {
				fatal(err)
			}
		}
		if *host != "" {
			start = time.Now()
			if _, err := registry.PushArtifact(ctx, res.Ref, img, auth); err != nil {
				fatal(err)
			}
			res.Seconds.Push = time.Since(start).Seconds()
		}
		if *asJSON {
			_ = json.NewEncoder(os.Stdout).Encode(res)
		} else {
			fmt.Printf("%s\t%s\t%d layers\t%.1f MiB compressed\tbuild %.1fs push %.1fs\n",
				res.Ref, res.Digest, res.Layers, float64(res.Compressed)/(1<<20), res.Seconds.Build, res.Seconds.Push)
		}
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "imagegen:", strings.TrimSpace(err.Error()))
	os.Exit(1)
}
