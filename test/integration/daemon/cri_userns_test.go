package daemon_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	reg "github.com/berth-dev/berth/internal/testutil/registry"
)

// TestCRIUserNamespace: pods with a user namespace of their own
// (NamespaceMode_POD), shared or per-container PID namespaces: the
// container's root is the mapped host id, the image's files belong to it
// (idmapped rootfs), and it owns its pod's network namespace. Bad
// mappings and modes are refused, leaving nothing.
func TestCRIUserNamespace(t *testing.T) {
	r := reg.Start(t)
	ref := r.Ref("cri/busybox:userns")
	reg.Push(t, ref, reg.BusyboxImage(t))
	d := startDaemon(t, "")
	rt, im := d.criClients(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := im.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: ref}}); err != nil {
		t.Fatal(err)
	}
	if st, err := rt.Status(ctx, &runtimeapi.StatusRequest{}); err != nil || !st.RuntimeHandlers[0].GetFeatures().GetUserNamespaces() {
		t.Fatalf("Status: user namespaces not announced: %+v %v", st, err)
	}
	mapping := func(c, h, n uint32) []*runtimeapi.IDMapping {
		return []*runtimeapi.IDMapping{{ContainerId: c, HostId: h, Length: n}}
	}
	const hostID = 300000
	for i, pid := range []runtimeapi.NamespaceMode{runtimeapi.NamespaceMode_POD, runtimeapi.NamespaceMode_CONTAINER} {
		t.Run(pid.String(), func(t *testing.T) {
			logDir := t.TempDir()
			ns := &runtimeapi.NamespaceOption{Pid: pid, UsernsOptions: &runtimeapi.UserNamespace{
				Mode: runtimeapi.NamespaceMode_POD, Uids: mapping(0, hostID, 65536), Gids: mapping(0, hostID, 65536)}}
			pcfg := &runtimeapi.PodSandboxConfig{
				Metadata:     &runtimeapi.PodSandboxMetadata{Name: "userns", Namespace: "default", Uid: fmt.Sprint("u-userns-", i)},
				Hostname:     "userns-pod",
				LogDirectory: logDir,
				Linux:        &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: ns}},
			}
			pod, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: pcfg})
			if err != nil {
				t.Fatal(err)
			}
			userPin := filepath.Join(d.state, "cri", "sandboxes", pod.PodSandboxId, "user")
			ccfg := &runtimeapi.ContainerConfig{
				Metadata: &runtimeapi.ContainerMetadata{Name: "c"},
				Image:    &runtimeapi.ImageSpec{Image: ref},
				Command: []string{"sh", "-c", "cat /proc/self/uid_map; id -u; stat -c 'bin=%u' /bin; touch /made && stat -c 'made=%u' /made; " +
					"hostname; ls /sys/class/net | grep -x eth0; echo pid=$$; exec sleep 600"},
				LogPath: "c.log",
				Linux:   &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{NamespaceOptions: ns}},
			}
			cr, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: pod.PodSandboxId, Config: ccfg, SandboxConfig: pcfg})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: cr.ContainerId}); err != nil {
				t.Fatal(err)
			}
			var log string
			for end := time.Now().Add(20 * time.Second); time.Now().Before(end) && !strings.Contains(log, "pid="); time.Sleep(50 * time.Millisecond) {
				b, _ := os.ReadFile(filepath.Join(logDir, "c.log"))
				log = string(b)
			}
			var lines []string
			for _, l := range strings.Split(strings.TrimSpace(log), "\n") {
				if f := strings.SplitN(l, " ", 4); len(f) == 4 {
					lines = append(lines, f[3])
				}
			}
			// sysfs shows the pod's interfaces: it could be mounted, as
			// the pod's network namespace belongs to its user namespace.
			want := []string{fmt.Sprintf("0 %d 65536", hostID), "0", "bin=0", "made=0", "userns-pod", "eth0", "pid=1"}
			if pid == runtimeapi.NamespaceMode_POD && len(lines) == len(want) {
				// The pod's pause is 1.
				if lines[6] == "pid=1" {
					t.Errorf("container is pid 1 of a shared PID namespace")
				}
				lines[6] = "pid=1"
			}
			if len(lines) != len(want) {
				t.Fatalf("container output %q, want %q", lines, want)
			}
			for i := range want {
				if strings.Join(strings.Fields(lines[i]), " ") != want[i] {
					t.Errorf("container output line %d: %q, want %q", i, lines[i], want[i])
				}
			}
			// From the host: the process runs as the mapped id.
			st, err := rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: cr.ContainerId, Verbose: true})
			if err != nil {
				t.Fatal(err)
			}
			ex, err := rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: cr.ContainerId, Cmd: []string{"sh", "-c", "readlink /proc/self/ns/user; id -u"}, Timeout: 10})
			if want := readlinkT(t, userPin) + "\n0\n"; err != nil || string(ex.Stdout) != want {
				t.Errorf("exec's user namespace: %q %v, want %q (%v)", ex.GetStdout(), err, want, st.Info)
			}
			if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: pod.PodSandboxId}); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(userPin); !os.IsNotExist(err) {
				t.Errorf("user namespace pin left: %v", err)
			}
		})
	}
	// Bad modes and mappings: refused, nothing left.
	before := listDir(t, filepath.Join(d.state, "cri", "sandboxes"))
	for _, tc := range []struct {
		name string
		ns   *runtimeapi.NamespaceOption
		want string
	}{
		{"two mappings", &runtimeapi.NamespaceOption{UsernsOptions: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD,
			Uids: append(mapping(0, hostID, 1000), mapping(1000, hostID+2000, 1000)...), Gids: mapping(0, hostID, 65536)}}, "exactly one uid mapping"},
		{"root unmapped", &runtimeapi.NamespaceOption{UsernsOptions: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD,
			Uids: mapping(1, hostID, 65536), Gids: mapping(1, hostID, 65536)}}, "container id 0"},
		{"host root", &runtimeapi.NamespaceOption{UsernsOptions: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD,
			Uids: mapping(0, 0, 65536), Gids: mapping(0, 0, 65536)}}, "host's id 0"},
		{"container mode", &runtimeapi.NamespaceOption{UsernsOptions: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_CONTAINER}}, "mode CONTAINER"},
		{"target mode", &runtimeapi.NamespaceOption{UsernsOptions: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_TARGET}}, "mode TARGET"},
		{"host network", &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE, UsernsOptions: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD,
			Uids: mapping(0, hostID, 65536), Gids: mapping(0, hostID, 65536)}}, "node's network"},
	} {
		cfg := &runtimeapi.PodSandboxConfig{
			Metadata: &runtimeapi.PodSandboxMetadata{Name: "bad", Namespace: "default", Uid: "u-bad"},
			Linux:    &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: tc.ns}},
		}
		_, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want InvalidArgument naming %q", tc.name, err, tc.want)
		}
	}
	if after := listDir(t, filepath.Join(d.state, "cri", "sandboxes")); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("sandbox directories left: %v (before %v)", after, before)
	}
	if l, _ := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{}); len(l.GetItems()) != 0 {
		t.Errorf("sandboxes left: %+v", l.Items)
	}
	if m := mountsUnder(d.state); len(m) > 0 {
		t.Errorf("mounts left under %s: %q", d.state, m)
	}
}

func readlinkT(t *testing.T, p string) string {
	t.Helper()
	// The pin is a bind mount of the nsfs file: its inode names it.
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("user:[%d]", st.Sys().(*syscall.Stat_t).Ino)
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	es, _ := os.ReadDir(dir)
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}
