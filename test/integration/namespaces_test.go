package integration

import (
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// nsNames are the /proc/<pid>/ns links of the namespace types a spec names.
var nsNames = map[specs.LinuxNamespaceType]string{
	specs.PIDNamespace:     "pid",
	specs.NetworkNamespace: "net",
	specs.IPCNamespace:     "ipc",
	specs.UTSNamespace:     "uts",
	specs.MountNamespace:   "mnt",
	specs.CgroupNamespace:  "cgroup",
	specs.TimeNamespace:    "time",
	specs.UserNamespace:    "user",
}

// printNS is a script printing "<name> <link>" for every namespace link.
const printNS = `for n in pid net ipc uts mnt cgroup time user; do echo "$n $(readlink /proc/self/ns/$n)"; done`

func parseNS(t *testing.T, out string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && strings.Contains(v, ":[") {
			m[k] = v
		}
	}
	if len(m) != len(nsNames) {
		t.Fatalf("namespace links missing from %q", out)
	}
	return m
}

func hostNS(t *testing.T, pid string, name string) string {
	t.Helper()
	return readlink(t, "/proc/"+pid+"/ns/"+name)
}

func TestNamespacesCreated(t *testing.T) {
	r := newRT(t)
	got := parseNS(t, r.mustSh(nil, printNS))
	for _, typ := range []specs.LinuxNamespaceType{
		specs.PIDNamespace, specs.NetworkNamespace, specs.IPCNamespace, specs.UTSNamespace,
		specs.MountNamespace, specs.CgroupNamespace,
	} {
		n := nsNames[typ]
		if host := hostNS(t, "self", n); got[n] == host {
			t.Errorf("%s: container shares the host's namespace %s", typ, host)
		}
	}
	for _, n := range []string{"user", "time"} {
		if host := hostNS(t, "self", n); got[n] != host {
			t.Errorf("%s: not in the spec, yet the container has %s (host %s)", n, got[n], host)
		}
	}
}

// A type left out of linux.namespaces is the host's. (mount is not in the
// table: without a mount namespace pivot_root would act on the host.)
func TestNamespacesOmitted(t *testing.T) {
	r := newRT(t)
	for _, typ := range []specs.LinuxNamespaceType{
		specs.PIDNamespace, specs.NetworkNamespace, specs.IPCNamespace, specs.UTSNamespace, specs.CgroupNamespace,
	} {
		n := nsNames[typ]
		got := parseNS(t, r.mustSh(func(s *specs.Spec) {
			removeNS(s, typ)
			if typ == specs.UTSNamespace {
				s.Hostname = ""
			}
		}, printNS))
		if host := hostNS(t, "self", n); got[n] != host {
			t.Errorf("%s omitted: container has %s, host %s", typ, got[n], host)
		}
		if got["mnt"] == hostNS(t, "self", "mnt") {
			t.Errorf("%s omitted: the mount namespace is the host's too", typ)
		}
	}
}

func TestTimeNamespaceOffsets(t *testing.T) {
	r := newRT(t)
	// A time namespace without offsets.
	got := parseNS(t, r.mustSh(func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
	}, printNS))
	if got["time"] == hostNS(t, "self", "time") {
		t.Errorf("time: container shares the host's namespace %s", got["time"])
	}
	withTime := func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
		s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{
			"monotonic": {Secs: 1000},
			"boottime":  {Secs: 2000, Nanosecs: 5},
		}
	}
	res := r.runSh(withTime, "cat /proc/self/timens_offsets; echo uptime $(cat /proc/uptime); "+printNS)
	hostUp := readUptime(t)
	if res.code != 0 {
		t.Fatalf("time namespace: %s", res)
	}
	out := res.stdout
	offs := map[string]string{}
	var up float64
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 2 && f[0] == "uptime":
			up, _ = strconv.ParseFloat(f[1], 64)
		case len(f) == 3:
			offs[f[0]] = f[1] + " " + f[2]
		}
	}
	if got := parseNS(t, out[strings.Index(out, "pid "):]); got["time"] == hostNS(t, "self", "time") {
		t.Errorf("time: container shares the host's namespace %s", got["time"])
	}
	if offs["monotonic"] != "1000 0" || offs["boottime"] != "2000 5" {
		t.Errorf("timens_offsets: %q", out)
	}
	// The container read its uptime before we read ours.
	if up < hostUp+2000-60 || up > hostUp+2000+1 {
		t.Errorf("container uptime %.2f, host %.2f: want host+2000", up, hostUp)
	}
	// Offsets without a time namespace are an error.
	res = r.runSh(func(s *specs.Spec) {
		s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 1}}
	}, "true")
	if res.code == 0 || !strings.Contains(res.stderr, "timeOffsets") {
		t.Errorf("timeOffsets without a time namespace: %s", res)
	}
}

func readUptime(t *testing.T) float64 {
	t.Helper()
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		t.Fatal(err)
	}
	v, err := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestNamespacesJoinByPath(t *testing.T) {
	r := newRT(t)
	a := bundle(t, func(s *specs.Spec) { s.Hostname = "host-a" }, "sleep", "1000")
	r.must("run", "-d", "--bundle", a, "a")
	apid := strconv.Itoa(r.state("a").Pid)
	joined := []specs.LinuxNamespaceType{specs.NetworkNamespace, specs.IPCNamespace, specs.UTSNamespace, specs.PIDNamespace}
	out := r.mustSh(func(s *specs.Spec) {
		s.Hostname = ""
		for i, ns := range s.Linux.Namespaces {
			for _, j := range joined {
				if ns.Type == j {
					s.Linux.Namespaces[i].Path = "/proc/" + apid + "/ns/" + nsNames[j]
				}
			}
		}
	}, printNS+"; echo; hostname; tr '\\0' ' ' < /proc/1/cmdline")
	got := parseNS(t, out)
	for _, j := range joined {
		n := nsNames[j]
		if want := hostNS(t, apid, n); got[n] != want {
			t.Errorf("%s joined by path: %s, container A has %s", j, got[n], want)
		}
	}
	for _, n := range []string{"mnt", "cgroup"} {
		if got[n] == hostNS(t, apid, n) || got[n] == hostNS(t, "self", n) {
			t.Errorf("%s: not joined, yet shared: %s", n, got[n])
		}
	}
	if !strings.Contains(out, "\nhost-a\n") {
		t.Errorf("uts joined: A's hostname not seen: %q", out)
	}
	if !strings.Contains(out, "sleep 1000") {
		t.Errorf("pid joined: pid 1 is not A's sleep: %q", out)
	}
	// A path that is not a namespace of the named type fails.
	res := r.runSh(func(s *specs.Spec) {
		for i, ns := range s.Linux.Namespaces {
			if ns.Type == specs.NetworkNamespace {
				s.Linux.Namespaces[i].Path = "/proc/" + apid + "/ns/ipc"
			}
		}
	}, "true")
	if res.code == 0 {
		t.Errorf("network namespace path pointing at an ipc namespace accepted: %s", res)
	}
}

// chownTree chowns every file under dir without following symlinks.
func chownTree(t *testing.T, dir string, uid, gid int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// openPath makes dir and its parents up to /tmp searchable by everyone, as
// the container's root in a user namespace is not the host's root.
func openPath(t *testing.T, dir string) {
	t.Helper()
	for d := dir; d != "/" && d != os.TempDir() && d != "."; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func TestUserNamespace(t *testing.T) {
	r := newRT(t)
	const hostID = 100000
	data := t.TempDir()
	if err := os.Chown(data, hostID, hostID); err != nil {
		t.Fatal(err)
	}
	openPath(t, data)
	b := bundle(t, func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: hostID, Size: 65536}}
		s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: hostID, Size: 65536}}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: data, Options: []string{"rbind", "rw"}})
	}, "sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; echo id $(id -u) $(id -g); touch /data/f && echo touched; "+printNS)
	chownTree(t, filepath.Join(b, "rootfs"), hostID, hostID)
	openPath(t, b)
	res := r.run("run", "--bundle", b, "userns")
	if res.code != 0 {
		t.Fatalf("run: %s", res)
	}
	lines := strings.Split(res.stdout, "\n")
	for i := 0; i < 2; i++ {
		if f := strings.Fields(lines[i]); len(f) != 3 || f[0] != "0" || f[1] != "100000" || f[2] != "65536" {
			t.Errorf("map line %d: %q", i, lines[i])
		}
	}
	if !strings.Contains(res.stdout, "id 0 0\n") || !strings.Contains(res.stdout, "touched") {
		t.Errorf("output: %s", res)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(data, "f"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != hostID || st.Gid != hostID {
		t.Errorf("file made by container root owned by %d:%d on the host, want %d", st.Uid, st.Gid, hostID)
	}
	got := parseNS(t, res.stdout[strings.Index(res.stdout, "pid "):])
	if host := hostNS(t, "self", "user"); got["user"] == host {
		t.Errorf("user namespace is the host's: %s", host)
	}
}

func TestUTSNames(t *testing.T) {
	r := newRT(t)
	hostBefore, _ := os.ReadFile("/proc/sys/kernel/hostname")
	out := r.mustSh(func(s *specs.Spec) {
		s.Hostname = "nshost"
		s.Domainname = "example.test"
	}, "hostname; cat /proc/sys/kernel/domainname")
	if out != "nshost\nexample.test\n" {
		t.Errorf("hostname/domainname: %q", out)
	}
	if hostAfter, _ := os.ReadFile("/proc/sys/kernel/hostname"); string(hostAfter) != string(hostBefore) {
		t.Errorf("host hostname changed: %q -> %q", hostBefore, hostAfter)
	}
	// No hostname in the spec: the uts namespace keeps a copy of the host's names.
	out = r.mustSh(func(s *specs.Spec) { s.Hostname = "" }, "hostname")
	if strings.TrimSpace(out) != strings.TrimSpace(string(hostBefore)) {
		t.Errorf("hostname without spec.hostname: %q, host %q", out, hostBefore)
	}
}
