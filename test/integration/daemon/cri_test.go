package daemon_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
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
	// The collection runs shortly after a removal.
	var blobs, snaps int
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if blobs, snaps, _ = d.counts(); blobs == 0 && snaps == 0 {
			break
		}
	}
	if blobs != 0 || snaps != 0 {
		t.Errorf("after removal: %d blobs, %d snapshots", blobs, snaps)
	}
}

// TestCRIPodSandbox: a pod's shared namespaces are pinned without an infra
// process, it gets an address and host ports on the pod network, and stop
// and remove release everything; both are idempotent; sandboxes survive
// a restart of the daemon.
func TestCRIPodSandbox(t *testing.T) {
	d := startDaemon(t, "")
	rt, _ := d.criClients(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	veths0, _, _, _ := d.netCounts()
	hostPort := freePort(t)
	cfg := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: "web", Namespace: "default", Uid: "u-1", Attempt: 0},
		Hostname:     "web-pod",
		Labels:       map[string]string{"app": "web"},
		DnsConfig:    &runtimeapi.DNSConfig{Servers: []string{"10.96.0.10"}, Searches: []string{"default.svc.cluster.local"}, Options: []string{"ndots:5"}},
		PortMappings: []*runtimeapi.PortMapping{{Protocol: runtimeapi.Protocol_TCP, ContainerPort: 80, HostPort: int32(hostPort), HostIp: "127.0.0.1"}},
	}
	run, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	id := run.PodSandboxId
	if _, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg}); status.Code(err) != codes.AlreadyExists {
		t.Errorf("second RunPodSandbox with the same name: %v, want AlreadyExists", err)
	}
	st, err := rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id, Verbose: true})
	if err != nil || st.Status.State != runtimeapi.PodSandboxState_SANDBOX_READY || st.Status.Network.GetIp() == "" || st.Status.Metadata.Name != "web" {
		t.Fatalf("PodSandboxStatus: %+v %v", st, err)
	}
	ip := st.Status.Network.Ip
	netns := filepath.Join(d.state, "network", "netns", id)
	uts := filepath.Join(d.state, "cri", "sandboxes", id, "uts")
	if out, err := exec.Command("nsenter", "--net="+netns, "ip", "-4", "addr", "show", "eth0").CombinedOutput(); err != nil || !strings.Contains(string(out), ip) {
		t.Errorf("pod netns: %v: %s", err, out)
	}
	if out, err := exec.Command("nsenter", "--uts="+uts, "hostname").CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "web-pod" {
		t.Errorf("pod UTS hostname: %v: %q", err, out)
	}
	if b, err := os.ReadFile(filepath.Join(d.state, "cri", "sandboxes", id, "resolv.conf")); err != nil || !strings.Contains(string(b), "nameserver 10.96.0.10") || !strings.Contains(string(b), "options ndots:5") {
		t.Errorf("pod resolv.conf: %v: %s", err, b)
	}
	// The host port is the pod's: nobody else may bind it.
	if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", hostPort)); err == nil {
		l.Close()
		t.Errorf("host port %d of the pod is free for others", hostPort)
	}
	list, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{"app": "web"}}})
	if err != nil || len(list.Items) != 1 || list.Items[0].Id != id {
		t.Errorf("ListPodSandbox by label: %+v %v", list, err)
	}
	if list, _ := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{"app": "db"}}}); len(list.GetItems()) != 0 {
		t.Errorf("ListPodSandbox with another label: %+v", list)
	}
	// The daemon restarts: the sandbox is still there, its port still held.
	d.kill()
	d.start()
	rt, _ = d.criClients(t)
	if st, err := rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id[:12]}); err != nil || st.Status.State != runtimeapi.PodSandboxState_SANDBOX_READY || st.Status.Network.GetIp() != ip {
		t.Errorf("after a daemon restart: %+v %v", st, err)
	}
	if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", hostPort)); err == nil {
		l.Close()
		t.Errorf("host port %d free after the daemon restarted", hostPort)
	}
	for i := 0; i < 2; i++ {
		if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
			t.Fatalf("StopPodSandbox #%d: %v", i+1, err)
		}
	}
	if st, err := rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id}); err != nil || st.Status.State != runtimeapi.PodSandboxState_SANDBOX_NOTREADY {
		t.Errorf("after stop: %+v %v", st, err)
	}
	for i := 0; i < 2; i++ {
		if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
			t.Fatalf("RemovePodSandbox #%d: %v", i+1, err)
		}
	}
	if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: "nosuch"}); err != nil {
		t.Errorf("StopPodSandbox of an unknown sandbox: %v", err)
	}
	if _, err := rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id}); status.Code(err) != codes.NotFound {
		t.Errorf("status after removal: %v, want NotFound", err)
	}
	if veths, netns, _, leases := d.netSettled(func(v, n, _, l int) bool { return v == veths0 && n == 0 && l == 0 }); veths != veths0 || netns != 0 || leases != 0 {
		t.Errorf("left: %d veths, %d namespaces, %d leases", veths, netns, leases)
	}
	if b, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(b), filepath.Join(d.state, "cri")) {
		t.Errorf("pinned namespaces left under %s", filepath.Join(d.state, "cri"))
	}
	// Bad input leaves nothing either.
	for _, bad := range []*runtimeapi.PodSandboxConfig{
		{Metadata: &runtimeapi.PodSandboxMetadata{Name: "x"}},
		{Metadata: &runtimeapi.PodSandboxMetadata{Name: "x", Namespace: "n", Uid: "u"}, Windows: &runtimeapi.WindowsPodSandboxConfig{}},
		{Metadata: &runtimeapi.PodSandboxMetadata{Name: "x", Namespace: "n", Uid: "u"}, Hostname: strings.Repeat("h", 100)},
	} {
		if _, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: bad}); status.Code(err) != codes.InvalidArgument {
			t.Errorf("RunPodSandbox(%v): %v, want InvalidArgument", bad, err)
		}
	}
	if list, _ := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{}); len(list.GetItems()) != 0 {
		t.Errorf("sandboxes left by refused runs: %+v", list.Items)
	}
	if ents, _ := os.ReadDir(filepath.Join(d.state, "cri", "sandboxes")); len(ents) != 0 {
		t.Errorf("sandbox directories left: %d", len(ents))
	}
}

// TestCRIContainers: the kubelet's path through a pod — pull, run the
// sandbox, create and start a container in it, exec, logs in the CRI
// format, host port, stop, remove — the way crictl runp/create/start/
// exec/logs/stopp/rmp drive it.
func TestCRIContainers(t *testing.T) {
	r := reg.Start(t)
	ref := r.Ref("cri/busybox:1")
	reg.Push(t, ref, reg.BusyboxImage(t))
	d := startDaemon(t, "")
	rt, im := d.criClients(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := im.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: ref}}); err != nil {
		t.Fatal(err)
	}
	logDir := t.TempDir()
	hostPort := freePort(t)
	pcfg := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: "web", Namespace: "default", Uid: "u-2"},
		Hostname:     "webpod",
		LogDirectory: logDir,
		PortMappings: []*runtimeapi.PortMapping{{ContainerPort: 80, HostPort: int32(hostPort)}},
		Linux: &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
			NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_POD, Pid: runtimeapi.NamespaceMode_CONTAINER, Ipc: runtimeapi.NamespaceMode_POD}}},
	}
	pod, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: pcfg})
	if err != nil {
		t.Fatal(err)
	}
	ccfg := &runtimeapi.ContainerConfig{
		Metadata:    &runtimeapi.ContainerMetadata{Name: "httpd"},
		Image:       &runtimeapi.ImageSpec{Image: ref},
		Command:     []string{"sh", "-c", "echo started; echo oops >&2; mkdir -p /www; echo from-pod > /www/index.html; exec httpd -f -p 80 -h /www"},
		Envs:        []*runtimeapi.KeyValue{{Key: "GREETING", Value: []byte("hello")}},
		Labels:      map[string]string{"tier": "front"},
		Annotations: map[string]string{"note": "x"},
		LogPath:     "httpd/0.log",
		Linux: &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
			NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_POD, Pid: runtimeapi.NamespaceMode_CONTAINER, Ipc: runtimeapi.NamespaceMode_POD}}},
	}
	evctx, evcancel := context.WithCancel(ctx)
	defer evcancel()
	evs, err := rt.GetContainerEvents(evctx, &runtimeapi.GetEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan *runtimeapi.ContainerEventResponse, 16)
	go func() {
		for {
			e, err := evs.Recv()
			if err != nil {
				close(events)
				return
			}
			events <- e
		}
	}()
	cr, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: pod.PodSandboxId, Config: ccfg, SandboxConfig: pcfg})
	if err != nil {
		t.Fatal(err)
	}
	id := cr.ContainerId
	if _, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: pod.PodSandboxId, Config: ccfg, SandboxConfig: pcfg}); status.Code(err) != codes.AlreadyExists {
		t.Errorf("second CreateContainer with the same name: %v, want AlreadyExists", err)
	}
	if st, err := rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id}); err != nil || st.Status.State != runtimeapi.ContainerState_CONTAINER_CREATED {
		t.Errorf("after create: %+v %v", st, err)
	}
	if _, err := rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	st, err := rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
	if err != nil || st.Status.State != runtimeapi.ContainerState_CONTAINER_RUNNING || st.Status.Labels["tier"] != "front" || st.Status.Annotations["note"] != "x" ||
		st.Status.Metadata.Name != "httpd" || st.Status.LogPath != filepath.Join(logDir, "httpd/0.log") {
		t.Fatalf("after start: %+v %v", st, err)
	}
	if u := st.Status.GetUser().GetLinux(); u == nil || u.Uid != 0 || u.Gid != 0 {
		t.Errorf("ContainerStatus user: %+v", st.Status.GetUser())
	}
	if st, err := rt.Status(ctx, &runtimeapi.StatusRequest{}); err != nil || !st.GetFeatures().GetSupplementalGroupsPolicy() {
		t.Errorf("Status features: %+v %v", st.GetFeatures(), err)
	}
	// The container is in the pod's namespaces: its hostname, its address.
	ex, err := rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"sh", "-c", "hostname; echo $GREETING; echo err >&2; exit 7"}, Timeout: 10})
	if err != nil || string(ex.Stdout) != "webpod\nhello\n" || string(ex.Stderr) != "err\n" || ex.ExitCode != 7 {
		t.Errorf("ExecSync: %+v %v", ex, err)
	}
	if got := fetch(t, fmt.Sprintf("http://127.0.0.1:%d/", hostPort)); got != "from-pod" {
		t.Errorf("pod host port: %q", got)
	}
	// Logs in the CRI format at the kubelet's path.
	b, err := os.ReadFile(filepath.Join(logDir, "httpd/0.log"))
	if err != nil || !strings.Contains(string(b), " stdout F started\n") || !strings.Contains(string(b), " stderr F oops\n") {
		t.Errorf("CRI log: %v: %q", err, b)
	}
	// The evented PLEG sees the creation and the start.
	for _, want := range []runtimeapi.ContainerEventType{runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT, runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT} {
		select {
		case e := <-events:
			if e == nil || e.ContainerId != id || e.ContainerEventType != want || e.PodSandboxStatus.GetId() != pod.PodSandboxId {
				t.Errorf("container event: %+v, want %v", e, want)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("no %v event", want)
		}
	}
	ps, err := rt.PodSandboxStats(ctx, &runtimeapi.PodSandboxStatsRequest{PodSandboxId: pod.PodSandboxId})
	if err != nil || len(ps.Stats.Linux.Containers) != 1 || ps.Stats.Linux.Memory.UsageBytes.Value == 0 {
		t.Errorf("PodSandboxStats: %+v %v", ps, err)
	}
	// Stats and resource updates.
	cs, err := rt.ContainerStats(ctx, &runtimeapi.ContainerStatsRequest{ContainerId: id})
	if err != nil || cs.Stats.Memory.GetUsageBytes().GetValue() == 0 || cs.Stats.Attributes.Id != id {
		t.Errorf("ContainerStats: %+v %v", cs, err)
	}
	if ls, err := rt.ListContainerStats(ctx, &runtimeapi.ListContainerStatsRequest{}); err != nil || len(ls.Stats) != 1 {
		t.Errorf("ListContainerStats: %+v %v", ls, err)
	}
	if _, err := rt.UpdateContainerResources(ctx, &runtimeapi.UpdateContainerResourcesRequest{ContainerId: id,
		Linux: &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 96 << 20}}); err != nil {
		t.Errorf("UpdateContainerResources: %v", err)
	} else {
		// cgroup v1 here: the container sees its own memory cgroup.
		ex, err := rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max"}, Timeout: 10})
		if got := strings.TrimSpace(string(ex.GetStdout())); err != nil || got != fmt.Sprint(96<<20) {
			t.Errorf("memory limit after update: %q %v", got, err)
		}
	}
	// The kubelet rotates the log: after ReopenContainerLog the output
	// goes to a new file at the same path.
	logFile := filepath.Join(logDir, "httpd/0.log")
	if err := os.Rename(logFile, logFile+".1"); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.ReopenContainerLog(ctx, &runtimeapi.ReopenContainerLogRequest{ContainerId: id}); err != nil {
		t.Errorf("ReopenContainerLog: %v", err)
	}
	if _, err := os.Stat(logFile); err != nil {
		t.Errorf("no new log file after ReopenContainerLog: %v", err)
	}
	// Kubernetes' containers are kept apart from Docker's.
	if out := d.berth("ps", "-aq"); strings.TrimSpace(out) != "" {
		t.Errorf("berth ps shows the CRI's container: %q", out)
	}
	list, err := rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{PodSandboxId: pod.PodSandboxId}})
	if err != nil || len(list.Containers) != 1 || list.Containers[0].Id != id {
		t.Errorf("ListContainers: %+v %v", list, err)
	}
	if _, err := rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: 2}); err != nil {
		t.Fatal(err)
	}
	st, err = rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
	if err != nil || st.Status.State != runtimeapi.ContainerState_CONTAINER_EXITED || st.Status.FinishedAt == 0 || st.Status.Reason == "" {
		t.Errorf("after stop: %+v %v", st, err)
	}
	if _, err := rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id}); err != nil {
		t.Errorf("second StopContainer: %v", err)
	}
	if _, err := rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id}); err != nil {
		t.Errorf("second RemoveContainer: %v", err)
	}
	if _, err := rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id}); status.Code(err) != codes.NotFound {
		t.Errorf("status after removal: %v", err)
	}
	// A container left in the pod goes with RemovePodSandbox.
	ccfg.Metadata.Name, ccfg.Command = "sleeper", []string{"sleep", "600"}
	cr2, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: pod.PodSandboxId, Config: ccfg, SandboxConfig: pcfg})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: cr2.ContainerId}); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: pod.PodSandboxId}); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: pod.PodSandboxId}); err != nil {
		t.Fatal(err)
	}
	if list, _ := rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{}); len(list.GetContainers()) != 0 {
		t.Errorf("containers left after RemovePodSandbox: %+v", list.Containers)
	}
	// Bad input.
	if _, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: "nosuch", Config: ccfg}); status.Code(err) != codes.NotFound {
		t.Errorf("CreateContainer in an unknown pod: %v", err)
	}
	if _, err := rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: "nosuch"}); status.Code(err) != codes.NotFound {
		t.Errorf("StartContainer of an unknown container: %v", err)
	}
	if m := mountsUnder(d.state); len(m) > 0 {
		t.Errorf("mounts left under %s: %q", d.state, m)
	}
}

// crictlBin is crictl from cri-tools (make conformance-cri-build).
func crictlBin(t *testing.T) string {
	for _, p := range []string{os.Getenv("CRICTL"), "/opt/cri-tools/bin/crictl"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	if p, err := exec.LookPath("crictl"); err == nil {
		return p
	}
	t.Skip("crictl not installed: make conformance-cri-build builds it")
	return ""
}

// TestCrictlScenario is the documented crictl session: runp, pull,
// create, start, exec (streamed and sync), logs, port-forward, stop,
// stopp, rmp.
func TestCrictlScenario(t *testing.T) {
	bin := crictlBin(t)
	r := reg.Start(t)
	ref := r.Ref("cri/busybox:1")
	reg.Push(t, ref, reg.BusyboxImage(t))
	d := startDaemon(t, "")
	ep := "unix://" + filepath.Join(d.state, "cri.sock")
	crictl := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, append([]string{"--runtime-endpoint", ep, "--image-endpoint", ep, "--timeout", "30s"}, args...)...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output() // stderr has crictl's config warnings
		if err != nil {
			t.Fatalf("crictl %s: %v\n%s%s\ndaemon log:\n%s", strings.Join(args, " "), err, out, stderr.String(), tail(d.log.String(), 2000))
		}
		return strings.TrimSpace(string(out))
	}
	dir := t.TempDir()
	podJSON := filepath.Join(dir, "pod.json")
	ctrJSON := filepath.Join(dir, "ctr.json")
	os.WriteFile(podJSON, []byte(`{"metadata":{"name":"demo","namespace":"default","uid":"demo-uid","attempt":1},
		"hostname":"demo","log_directory":"`+filepath.Join(dir, "logs")+`","linux":{}}`), 0o644)
	os.WriteFile(ctrJSON, []byte(`{"metadata":{"name":"web"},"image":{"image":"`+ref+`"},
		"command":["sh","-c","echo hello-log; mkdir -p /www; echo served > /www/index.html; exec httpd -f -p 8080 -h /www"],
		"log_path":"web.log","linux":{}}`), 0o644)

	crictl("pull", ref)
	pod := crictl("runp", podJSON)
	ctr := crictl("create", pod, ctrJSON, podJSON)
	crictl("start", ctr)
	if out := crictl("ps", "-q"); !strings.Contains(out, ctr) {
		t.Errorf("crictl ps: %q", out)
	}
	if out := crictl("pods", "-q"); !strings.Contains(out, pod) {
		t.Errorf("crictl pods: %q", out)
	}
	if out := crictl("exec", ctr, "sh", "-c", "hostname; echo streamed"); out != "demo\nstreamed" {
		t.Errorf("crictl exec (streaming): %q", out)
	}
	if out := crictl("exec", "-s", ctr, "echo", "sync"); out != "sync" {
		t.Errorf("crictl exec -s: %q", out)
	}
	// A failing command's exit code comes back through the stream.
	cmd := exec.Command(bin, "--runtime-endpoint", ep, "exec", ctr, "sh", "-c", "exit 3")
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("crictl exec of a failing command succeeded")
	} else if !strings.Contains(string(out), "exit code 3") {
		t.Errorf("crictl exec exit: %v: %s", err, out)
	}
	if out := crictl("logs", ctr); !strings.Contains(out, "hello-log") {
		t.Errorf("crictl logs: %q", out)
	}
	// port-forward a local port to the pod's 8080.
	local := freePort(t)
	pf := exec.Command(bin, "--runtime-endpoint", ep, "port-forward", pod, fmt.Sprintf("%d:8080", local))
	if err := pf.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { pf.Process.Kill(); pf.Wait() }()
	if got := fetch(t, fmt.Sprintf("http://127.0.0.1:%d/", local)); got != "served" {
		t.Errorf("port-forward: %q", got)
	}
	crictl("stop", ctr)
	crictl("rm", ctr)
	crictl("stopp", pod)
	crictl("rmp", pod)
	if out := crictl("pods", "-q"); out != "" {
		t.Errorf("pods left: %q", out)
	}
}

// TestCRIConfDir: with [cri] cni_conf_dir, pods join the network
// configured there, as a kubelet deployment sets it up; NetworkReady
// follows whether a configuration is there.
func TestCRIConfDir(t *testing.T) {
	dir := t.TempDir()
	confDir := filepath.Join(dir, "net.d")
	os.MkdirAll(confDir, 0o755)
	d := startDaemon(t, fmt.Sprintf("[cri]\ncni_conf_dir = %q\n", confDir))
	rt, _ := d.criClients(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	netReady := func() bool {
		st, err := rt.Status(ctx, &runtimeapi.StatusRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range st.Status.Conditions {
			if c.Type == runtimeapi.NetworkReady {
				return c.Status
			}
		}
		return false
	}
	if netReady() {
		t.Errorf("NetworkReady without a CNI configuration")
	}
	conf := `{"cniVersion":"1.0.0","name":"k8s-pod-network","plugins":[
		{"type":"bridge","bridge":"berthk8s0","isGateway":true,"ipMasq":true,
		 "ipam":{"type":"host-local","ranges":[[{"subnet":"10.77.7.0/24"}]],"routes":[{"dst":"0.0.0.0/0"}],"dataDir":"` + filepath.Join(dir, "ipam") + `"}},
		{"type":"portmap","capabilities":{"portMappings":true}}]}`
	if err := os.WriteFile(filepath.Join(confDir, "10-k8s.conflist"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	defer exec.Command("ip", "link", "delete", "berthk8s0").Run()
	if !netReady() {
		t.Errorf("not NetworkReady with a CNI configuration")
	}
	cfg := &runtimeapi.PodSandboxConfig{Metadata: &runtimeapi.PodSandboxMetadata{Name: "p", Namespace: "n", Uid: "u-conf"}}
	run, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	st, err := rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: run.PodSandboxId})
	if err != nil || !strings.HasPrefix(st.Status.Network.GetIp(), "10.77.7.") {
		t.Errorf("pod on the configured network: %+v %v", st.GetStatus().GetNetwork(), err)
	}
	if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: run.PodSandboxId}); err != nil {
		t.Fatal(err)
	}
	if leases, _ := filepath.Glob(filepath.Join(dir, "ipam", "k8s-pod-network", "10.*")); len(leases) != 0 {
		t.Errorf("leases left: %v", leases)
	}
	if ents, _ := os.ReadDir(filepath.Join(d.state, "network", "netns")); len(ents) != 0 {
		t.Errorf("namespaces left: %d", len(ents))
	}
}
