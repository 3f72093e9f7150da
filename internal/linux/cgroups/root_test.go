package cgroups

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

func testName() string {
	return fmt.Sprintf("berth-test-%d-%08x", os.Getpid(), rand.Uint32())
}

// waitingChild starts `sh -c 'read x; <then>'`; it does nothing of note
// until go() lets it continue, so it can first be moved into a cgroup.
type waitingChild struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   syncBuffer
}

// syncBuffer is a bytes.Buffer the test may read while the child writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startWaiting(t *testing.T, then string) *waitingChild {
	t.Helper()
	c := &waitingChild{cmd: exec.Command("/bin/sh", "-c", "read x; "+then)}
	c.cmd.Stdout, c.cmd.Stderr = &c.out, &c.out
	var err error
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.cmd.Process.Kill()
		c.cmd.Wait()
	})
	return c
}

func (c *waitingChild) proceed(t *testing.T) {
	t.Helper()
	if _, err := io.WriteString(c.stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
}

func mustRead(t *testing.T, dir, file string) string {
	t.Helper()
	s, err := readString(dir, file)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRootLifecycle drives a real cgroup on this host (v1, hybrid or v2).
func TestRootLifecycle(t *testing.T) {
	needRoot(t)
	name := "/" + testName()
	m, err := Open(name, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Destroy(); err != nil {
			t.Errorf("cleanup Destroy: %v", err)
		}
	})
	r := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: i64(64 << 20)},
		Pids:   &specs.LinuxPids{Limit: i64(50)},
		CPU:    &specs.LinuxCPU{Shares: u64(512), Quota: i64(50000), Period: u64(100000), Cpus: "0"},
		Devices: []specs.LinuxDeviceCgroup{
			{Allow: false, Access: "rwm"},
			{Allow: true, Type: "c", Access: "m"},
			{Allow: true, Type: "b", Access: "m"},
			{Allow: true, Type: "c", Major: i64(1), Minor: i64(5), Access: "rwm"},
			{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"},
			{Allow: false, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"},
		},
	}
	if m.Path("hugetlb") != "" && fileExists("/sys/kernel/mm/hugepages/hugepages-2048kB") {
		r.HugepageLimits = []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}}
	}
	if err := m.Create(r); err != nil {
		t.Fatal(err)
	}

	// Read the limits back.
	check := func(ctrl, file, want string) {
		t.Helper()
		if got := mustRead(t, m.Path(ctrl), file); got != want {
			t.Errorf("%s/%s = %q, want %q", m.Path(ctrl), file, got, want)
		}
	}
	if m.Version() == 1 {
		check("memory", "memory.limit_in_bytes", "67108864")
		check("pids", "pids.max", "50")
		check("cpu", "cpu.shares", "512")
		check("cpu", "cpu.cfs_quota_us", "50000")
		check("cpu", "cpu.cfs_period_us", "100000")
		check("cpuset", "cpuset.cpus", "0")
		// blkio weight only where the kernel has a weight file (BFQ or CFQ).
		for _, f := range []string{"blkio.bfq.weight", "blkio.weight"} {
			if !fileExists(m.Path("blkio") + "/" + f) {
				continue
			}
			if err := m.Set(&specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: u16(300)}}); err != nil {
				t.Fatal(err)
			}
			if got := mustRead(t, m.Path("blkio"), f); !strings.Contains(got, "300") {
				t.Errorf("%s = %q", f, got)
			}
			break
		}
		list := mustRead(t, m.Path("devices"), "devices.list")
		if !strings.Contains(list, "c 1:5 rwm") || strings.Contains(list, "c 1:3") || strings.Contains(list, "a *:*") {
			t.Errorf("devices.list:\n%s", list)
		}
	} else {
		check("", "memory.max", "67108864")
		check("", "pids.max", "50")
		check("", "cpu.weight", "20")
		check("", "cpu.max", "50000 100000")
		check("", "cpuset.cpus", "0")
	}
	if r.HugepageLimits != nil {
		d, v2 := m.dir("hugetlb")
		file := "hugetlb.2MB.limit_in_bytes"
		if v2 {
			file = "hugetlb.2MB.max"
		}
		if got := mustRead(t, d, file); got != "4194304" {
			t.Errorf("%s/%s = %q", d, file, got)
		}
	}

	// A child moved in before it does anything: its exec and allocations
	// are charged here, and /dev/null (denied) cannot be opened.
	c := startWaiting(t, "cat /dev/null; echo null=$?; head -c 1 /dev/zero >/dev/zero; echo zero=$?; exec sleep 100")
	pid := c.cmd.Process.Pid
	if err := m.Apply(pid); err != nil {
		t.Fatal(err)
	}
	c.proceed(t)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(c.out.String(), "zero=") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let sleep exec
	if out := c.out.String(); !strings.Contains(out, "null=1") || !strings.Contains(out, "zero=0") {
		t.Errorf("device rules not in force; child said %q", out)
	}
	for _, d := range m.dirs {
		procs := mustRead(t, d.dir, "cgroup.procs")
		if !slices.Contains(strings.Fields(procs), fmt.Sprint(pid)) {
			t.Errorf("%s/cgroup.procs = %q, want %d", d.dir, procs, pid)
		}
	}

	pids, err := m.Pids()
	if err != nil || !slices.Contains(pids, pid) {
		t.Errorf("Pids = %v, %v; want %d in it", pids, err, pid)
	}

	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if st, err := m.FreezerState(); err != nil || st != Frozen {
		t.Errorf("after Freeze: %q, %v", st, err)
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	if st, err := m.FreezerState(); err != nil || st != Thawed {
		t.Errorf("after Thaw: %q, %v", st, err)
	}

	s, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.Pids.Current < 1 || s.Pids.Limit != 50 {
		t.Errorf("pids stats %+v", s.Pids)
	}
	if s.Memory.Usage.Usage == 0 || s.Memory.Usage.Limit != 64<<20 {
		t.Errorf("memory stats %+v", s.Memory.Usage)
	}
	if s.CPU.Usage.Total == 0 {
		t.Errorf("cpu stats %+v", s.CPU.Usage)
	}

	// update
	if err := m.Set(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(60)}, Memory: &specs.LinuxMemory{Limit: i64(128 << 20)}}); err != nil {
		t.Fatal(err)
	}
	if s, _ := m.Stats(); s.Pids.Limit != 60 || s.Memory.Usage.Limit != 128<<20 {
		t.Errorf("after update: pids %+v memory %+v", s.Pids, s.Memory.Usage)
	}

	// Destroy after the child is gone leaves nothing.
	c.cmd.Process.Kill()
	c.cmd.Wait()
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	for _, d := range m.dirs {
		if _, err := os.Stat(d.dir); !os.IsNotExist(err) {
			t.Errorf("%s still exists (%v)", d.dir, err)
		}
	}
}

// TestRootNestedDestroy: a container that made its own sub-cgroups and a
// Manager-created parent are removed leaf first.
func TestRootNestedDestroy(t *testing.T) {
	needRoot(t)
	top := "/" + testName()
	m, err := Open(top+"/ctr", false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Destroy() })
	if err := m.Create(nil); err != nil {
		t.Fatal(err)
	}
	for _, d := range m.dirs {
		if err := os.MkdirAll(d.dir+"/a/b", 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	for _, d := range m.dirs {
		if _, err := os.Stat(parentDir(d.dir)); !os.IsNotExist(err) {
			t.Errorf("%s still exists", parentDir(d.dir))
		}
	}
}

// TestRootDeviceFilterBPF loads and attaches a real device program on a
// cgroup2 hierarchy (the unified mount in the hybrid layout also works:
// the kernel runs cgroup2 device programs before the v1 controller).
func TestRootDeviceFilterBPF(t *testing.T) {
	needRoot(t)
	fd, err := loadDeviceProgram(deviceProgram(ociDefaultDevices()))
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	closeFD(fd)

	hs, err := hostSource().hierarchies()
	if err != nil {
		t.Fatal(err)
	}
	var mount string
	for _, h := range hs {
		if h.v2 {
			mount = h.mount
		}
	}
	if mount == "" {
		t.Skip("no cgroup2 mount")
	}
	dir := mount + "/" + testName()
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c := startWaiting(t, "cat /dev/null; echo null=$?; head -c 1 /dev/zero >/dev/zero; echo zero=$?")
	t.Cleanup(func() {
		c.cmd.Process.Kill()
		c.cmd.Wait()
		(&Manager{src: hostSource()}).removeTree(dir, time.Now().Add(time.Second))
	})
	rules := []specs.LinuxDeviceCgroup{{Allow: true}, {Allow: false, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"}}
	if err := attachDeviceRules(dir, rules); err != nil {
		t.Fatal(err)
	}
	// Attaching again (an update) replaces the program instead of stacking.
	if err := attachDeviceRules(dir, rules); err != nil {
		t.Fatal(err)
	}
	dfd, err := openDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ids := attachedDevicePrograms(dfd); len(ids) != 1 {
		t.Errorf("attached programs: %v, want exactly one", ids)
	}
	closeFD(dfd)
	if err := writeFile(dir, "cgroup.procs", fmt.Sprint(c.cmd.Process.Pid)); err != nil {
		t.Fatal(err)
	}
	c.proceed(t)
	c.cmd.Wait()
	if out := c.out.String(); !strings.Contains(out, "null=1") || !strings.Contains(out, "zero=0") {
		t.Errorf("filter not in force; child said %q", out)
	}
}

// TestRootV2Manager runs the eBPF path through the Manager on a pure v2 host.
func TestRootV2Manager(t *testing.T) {
	needRoot(t)
	m, err := Open("/"+testName(), false)
	if err != nil {
		t.Fatal(err)
	}
	if m.Version() != 2 {
		t.Skip("host is not cgroup v2")
	}
	t.Cleanup(func() { m.Destroy() })
	if err := m.Create(&specs.LinuxResources{Devices: ociDefaultDevices()}); err != nil {
		t.Fatal(err)
	}
	fd, err := m.DirFD()
	if err != nil {
		t.Fatal(err)
	}
	closeFD(fd)
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func openDir(p string) (int, error) {
	return unix.Open(p, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
}

func closeFD(fd int) { unix.Close(fd) }

// BenchmarkRootHotPath is what `berth-oci run` pays: Open, Create with the
// default OCI device list, memory and pids limits, then Destroy.
func BenchmarkRootHotPath(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	r := &specs.LinuxResources{Devices: ociDefaultDevices(), Memory: &specs.LinuxMemory{Limit: i64(64 << 20)}, Pids: &specs.LinuxPids{Limit: i64(100)}}
	parent := "/" + testName()
	var open, create, destroy time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		m, err := Open(fmt.Sprintf("%s/c%d", parent, i), false)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := m.Create(r); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if err := m.Destroy(); err != nil {
			b.Fatal(err)
		}
		open, create, destroy = open+t1.Sub(t0), create+t2.Sub(t1), destroy+time.Since(t2)
	}
	b.ReportMetric(float64(open.Microseconds())/float64(b.N), "open-µs/op")
	b.ReportMetric(float64(create.Microseconds())/float64(b.N), "create-µs/op")
	b.ReportMetric(float64(destroy.Microseconds())/float64(b.N), "destroy-µs/op")
	if m, err := Open(parent, false); err == nil {
		m.Destroy()
	}
}
