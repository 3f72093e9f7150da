// Command crilat measures the latency of single CRI calls against one
// endpoint, many times over, without critest's framework around them: a
// diagnostic for the sub-millisecond calls of `make bench-cri`.
//
//	crilat -endpoint /run/conf-berth/cri.sock -image REF [-n 2000]
//
// It pulls REF, creates a pod and a container in it, then times
// ContainerStatus, ImageStatus, ListImages, ListContainers and Version,
// and create+remove pairs of containers, and prints p50 and p90 in µs.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"slices"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func main() {
	endpoint := flag.String("endpoint", "/run/berth/cri.sock", "CRI socket")
	image := flag.String("image", "", "image to pull and run")
	n := flag.Int("n", 2000, "calls per measurement")
	flag.Parse()
	if *image == "" {
		log.Fatal("-image is required")
	}
	conn, err := grpc.NewClient("unix://"+*endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	rt, im := runtimeapi.NewRuntimeServiceClient(conn), runtimeapi.NewImageServiceClient(conn)
	ctx := context.Background()
	if _, err := im.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: *image}}); err != nil {
		log.Fatal(err)
	}
	pcfg := &runtimeapi.PodSandboxConfig{Metadata: &runtimeapi.PodSandboxMetadata{Name: "crilat", Namespace: "crilat", Uid: fmt.Sprint(os.Getpid())}}
	pod, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: pcfg})
	if err != nil {
		log.Fatal(err)
	}
	defer rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: pod.PodSandboxId})
	defer rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: pod.PodSandboxId})
	ccfg := func(name string) *runtimeapi.ContainerConfig {
		return &runtimeapi.ContainerConfig{Metadata: &runtimeapi.ContainerMetadata{Name: name}, Image: &runtimeapi.ImageSpec{Image: *image},
			Command: []string{"sleep", "600"}}
	}
	cr, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: pod.PodSandboxId, Config: ccfg("c"), SandboxConfig: pcfg})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: cr.ContainerId}); err != nil {
		log.Fatal(err)
	}
	measure := func(name string, n int, f func(i int) error) {
		d := make([]time.Duration, 0, n)
		for i := 0; i < n; i++ {
			t0 := time.Now()
			if err := f(i); err != nil {
				log.Fatalf("%s: %v", name, err)
			}
			d = append(d, time.Since(t0))
		}
		slices.Sort(d)
		fmt.Printf("%-22s p50 %6d µs  p90 %6d µs\n", name, d[len(d)/2].Microseconds(), d[len(d)*9/10].Microseconds())
	}
	measure("Version", *n, func(int) error { _, err := rt.Version(ctx, &runtimeapi.VersionRequest{}); return err })
	measure("ContainerStatus", *n, func(int) error {
		_, err := rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: cr.ContainerId, Verbose: true})
		return err
	})
	measure("PodSandboxStatus", *n, func(int) error {
		_, err := rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: pod.PodSandboxId, Verbose: true})
		return err
	})
	measure("ImageStatus", *n, func(int) error {
		_, err := im.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: *image}, Verbose: true})
		return err
	})
	measure("ListImages", *n, func(int) error { _, err := im.ListImages(ctx, &runtimeapi.ListImagesRequest{}); return err })
	// As critest -benchmark does: pull, status, remove (the image is in
	// use by the pod's container, so its layers stay).
	var afterPull []time.Duration
	measure("PullImage(again)", *n/40, func(int) error {
		if _, err := im.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: *image}}); err != nil {
			return err
		}
		t0 := time.Now()
		_, err := im.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: *image}})
		afterPull = append(afterPull, time.Since(t0))
		return err
	})
	fmt.Printf("%-22s p50 %6d µs  p90 %6d µs\n", "ImageStatus(after pull)", pct(afterPull, 50), pct(afterPull, 90))
	measure("ListContainers", *n, func(int) error { _, err := rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{}); return err })
	var ids []string
	measure("CreateContainer", *n/20, func(i int) error {
		r, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: pod.PodSandboxId, Config: ccfg(fmt.Sprint("x", i)), SandboxConfig: pcfg})
		if err == nil {
			ids = append(ids, r.ContainerId)
		}
		return err
	})
	measure("RemoveContainer(created)", len(ids), func(i int) error {
		_, err := rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: ids[i]})
		return err
	})
	// As critest -benchmark does: create, start, status, stop, then remove.
	ids = ids[:0]
	var afterStart, versionAfterStart []time.Duration
	measure("StartContainer", *n/40, func(i int) error {
		r, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: pod.PodSandboxId, Config: ccfg(fmt.Sprint("y", i)), SandboxConfig: pcfg})
		if err != nil {
			return err
		}
		ids = append(ids, r.ContainerId)
		if _, err = rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: r.ContainerId}); err != nil {
			return err
		}
		if d := os.Getenv("CRILAT_DELAY"); d != "" {
			dd, _ := time.ParseDuration(d)
			time.Sleep(dd)
		}
		t0 := time.Now()
		_, err = rt.Version(ctx, &runtimeapi.VersionRequest{})
		versionAfterStart = append(versionAfterStart, time.Since(t0))
		if err != nil {
			return err
		}
		t0 = time.Now()
		_, err = rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: r.ContainerId, Verbose: true})
		afterStart = append(afterStart, time.Since(t0))
		return err
	})
	fmt.Printf("%-22s p50 %6d µs  p90 %6d µs\n", "Version(after start)", pct(versionAfterStart, 50), pct(versionAfterStart, 90))
	fmt.Printf("%-22s p50 %6d µs  p90 %6d µs\n", "ContainerStatus(after start, after Version)", pct(afterStart, 50), pct(afterStart, 90))
	measure("StopContainer", len(ids), func(i int) error {
		_, err := rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: ids[i], Timeout: 0})
		return err
	})
	measure("RemoveContainer", len(ids), func(i int) error {
		_, err := rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: ids[i]})
		return err
	})
}

// pct is the p-th percentile of d in µs.
func pct(d []time.Duration, p int) int64 {
	if len(d) == 0 {
		return 0
	}
	d = slices.Clone(d)
	slices.Sort(d)
	return d[len(d)*p/100].Microseconds()
}
