package oci

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/linux/rootfs"
)

// The parent and the init exchange frames on their socket pair: a kind
// byte, a uvarint length, the payload. Payloads are a compact binary
// encoding, not JSON: the init is a fresh process, and decoding its
// config with encoding/json cost it half a millisecond of type setup on
// every container start (measured). The encoding covers exactly the
// fields the init uses (childSpec); TestWireRoundTrip keeps it honest.

const (
	frameConfig = 'C'
	frameMsg    = 'M'
	maxFrame    = 16 << 20
)

// wire is one end of the socket pair.
type wire struct {
	r io.Reader
	w io.Writer
}

func (w *wire) writeFrame(kind byte, payload []byte) error {
	b := make([]byte, 0, len(payload)+binary.MaxVarintLen64+1)
	b = append(b, kind)
	b = binary.AppendUvarint(b, uint64(len(payload)))
	b = append(b, payload...)
	_, err := w.w.Write(b)
	return err
}

func (w *wire) readFrame(want byte) ([]byte, error) {
	var hdr [1]byte
	if _, err := io.ReadFull(w.r, hdr[:]); err != nil {
		return nil, err
	}
	if hdr[0] != want {
		return nil, fmt.Errorf("protocol: frame %q, want %q", hdr[0], want)
	}
	n, err := binary.ReadUvarint(byteReader{w.r})
	if err != nil {
		return nil, err
	}
	if n > maxFrame {
		return nil, fmt.Errorf("protocol: frame of %d bytes", n)
	}
	b := make([]byte, n)
	_, err = io.ReadFull(w.r, b)
	return b, err
}

func (w *wire) sendConfig(c *initConfig) error {
	var e enc
	e.config(c)
	return w.writeFrame(frameConfig, e.b)
}

func (w *wire) recvConfig() (*initConfig, error) {
	b, err := w.readFrame(frameConfig)
	if err != nil {
		return nil, err
	}
	d := dec{b: b}
	c := d.config()
	return c, d.done()
}

func (w *wire) send(m syncMsg) error {
	var e enc
	e.str(m.Type)
	e.str(m.Error)
	e.bool(m.HookFailed)
	return w.writeFrame(frameMsg, e.b)
}

func (w *wire) recv() (syncMsg, error) {
	b, err := w.readFrame(frameMsg)
	if err != nil {
		return syncMsg{}, err
	}
	d := dec{b: b}
	m := syncMsg{Type: d.str(), Error: d.str(), HookFailed: d.bool()}
	return m, d.done()
}

// byteReader reads one byte at a time, for ReadUvarint, without buffering
// past the frame header.
type byteReader struct{ r io.Reader }

func (b byteReader) ReadByte() (byte, error) {
	var c [1]byte
	_, err := io.ReadFull(b.r, c[:])
	return c[0], err
}

// newWire reads with raw read(2) (see rawReader): the runtime, too, mostly
// waits on its init, and a regular blocking call keeps the Go scheduler's
// monitor thread waking every 20 µs to hand the P around.
func newWire(f *os.File) *wire { return &wire{r: rawReader(int(f.Fd())), w: f} }

// close closes the writing end (the init's socket) if it is a file.
func (w *wire) close() {
	if c, ok := w.w.(io.Closer); ok {
		c.Close()
	}
}

// enc appends values; dec reads them back in the same order.
type enc struct{ b []byte }

func (e *enc) uint(v uint64)  { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) int(v int64)    { e.b = binary.AppendVarint(e.b, v) }
func (e *enc) str(s string)   { e.uint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *enc) bytes(s []byte) { e.uint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *enc) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

func (e *enc) strs(l []string) {
	e.uint(uint64(len(l)))
	for _, s := range l {
		e.str(s)
	}
}

// has encodes whether an optional value follows.
func (e *enc) has(present bool) bool { e.bool(present); return present }

var errShort = errors.New("protocol: truncated or malformed payload")

type dec struct {
	b   []byte
	err error
}

func (d *dec) fail() { d.err, d.b = errShort, nil }

func (d *dec) uint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) int() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) raw() []byte {
	n := d.uint()
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *dec) str() string { return string(d.raw()) }

func (d *dec) bytes() []byte {
	v := d.raw()
	if len(v) == 0 {
		return nil
	}
	return append([]byte(nil), v...)
}

func (d *dec) bool() bool {
	if len(d.b) == 0 {
		d.fail()
		return false
	}
	v := d.b[0]
	d.b = d.b[1:]
	if v > 1 {
		d.fail()
	}
	return v == 1
}

// count reads a list length, bounded by what is left (each element needs
// at least one byte), so a hostile length cannot allocate much.
func (d *dec) count() int {
	n := d.uint()
	if n > uint64(len(d.b)) {
		d.fail()
		return 0
	}
	return int(n)
}

func (d *dec) strs() []string {
	n := d.count()
	if n == 0 {
		return nil
	}
	l := make([]string, n)
	for i := range l {
		l[i] = d.str()
	}
	return l
}

func (d *dec) done() error {
	if d.err == nil && len(d.b) != 0 {
		return errShort
	}
	return d.err
}

// --- initConfig

func (e *enc) config(c *initConfig) {
	e.bool(c.Exec)
	if e.has(c.Spec != nil) {
		e.spec(c.Spec)
	}
	if e.has(c.Process != nil) {
		e.process(c.Process)
	}
	e.str(c.Rootfs)
	e.str(c.Bundle)
	e.bool(c.NoPivot)
	e.uint(uint64(len(c.Cgroups)))
	for _, g := range c.Cgroups {
		e.str(g.Name)
		e.str(g.Host)
	}
	e.bool(c.CgroupV2)
	e.bool(c.NewCgroupNS)
	e.bool(c.NewUserNS)
	e.bool(c.NewNetNS)
	e.strs(c.Files)
	e.int(int64(c.PreserveFDs))
	e.bool(c.SyncHooks)
	e.bytes(c.Seccomp)
	e.bool(c.NoMountNS)
	e.bytes(c.State)
	e.int(int64(c.Nice))
	if e.has(c.Enter != nil) {
		e.uint(uint64(c.Enter.Unshare))
		e.uint(uint64(len(c.Enter.Joins)))
		for _, j := range c.Enter.Joins {
			e.str(j.path)
			e.int(int64(j.flag))
		}
	}
}

func (d *dec) config() *initConfig {
	c := &initConfig{Exec: d.bool()}
	if d.bool() {
		c.Spec = d.spec()
	}
	if d.bool() {
		c.Process = d.process()
	}
	c.Rootfs, c.Bundle, c.NoPivot = d.str(), d.str(), d.bool()
	if n := d.count(); n > 0 {
		c.Cgroups = make([]rootfs.CgroupDir, n)
		for i := range c.Cgroups {
			c.Cgroups[i] = rootfs.CgroupDir{Name: d.str(), Host: d.str()}
		}
	}
	c.CgroupV2, c.NewCgroupNS, c.NewUserNS, c.NewNetNS = d.bool(), d.bool(), d.bool(), d.bool()
	c.Files = d.strs()
	c.PreserveFDs = int(d.int())
	c.SyncHooks = d.bool()
	c.Seccomp = d.bytes()
	c.NoMountNS = d.bool()
	c.State = d.bytes()
	c.Nice = int(d.int())
	if d.bool() {
		c.Enter = &nsEnter{Unshare: uintptr(d.uint())}
		if n := d.count(); n > 0 {
			c.Enter.Joins = make([]nsJoin, n)
			for i := range c.Enter.Joins {
				c.Enter.Joins[i] = nsJoin{path: d.str(), flag: int(d.int())}
			}
		}
	}
	return c
}

// --- the spec, as far as childSpec keeps it

func (e *enc) spec(s *specs.Spec) {
	e.str(s.Version)
	if e.has(s.Root != nil) {
		e.str(s.Root.Path)
		e.bool(s.Root.Readonly)
	}
	e.uint(uint64(len(s.Mounts)))
	for _, m := range s.Mounts {
		e.str(m.Destination)
		e.str(m.Type)
		e.str(m.Source)
		e.strs(m.Options)
		e.idmaps(m.UIDMappings)
		e.idmaps(m.GIDMappings)
	}
	e.str(s.Hostname)
	e.str(s.Domainname)
	if e.has(s.Hooks != nil) {
		e.hooks(s.Hooks.CreateContainer)
		e.hooks(s.Hooks.StartContainer)
	}
	if e.has(s.Linux != nil) {
		e.linux(s.Linux)
	}
}

func (d *dec) spec() *specs.Spec {
	s := &specs.Spec{Version: d.str()}
	if d.bool() {
		s.Root = &specs.Root{Path: d.str(), Readonly: d.bool()}
	}
	if n := d.count(); n > 0 {
		s.Mounts = make([]specs.Mount, n)
		for i := range s.Mounts {
			s.Mounts[i] = specs.Mount{Destination: d.str(), Type: d.str(), Source: d.str(), Options: d.strs(),
				UIDMappings: d.idmaps(), GIDMappings: d.idmaps()}
		}
	}
	s.Hostname, s.Domainname = d.str(), d.str()
	if d.bool() {
		s.Hooks = &specs.Hooks{CreateContainer: d.hooks(), StartContainer: d.hooks()}
	}
	if d.bool() {
		s.Linux = d.linux()
	}
	return s
}

func (e *enc) idmaps(m []specs.LinuxIDMapping) {
	e.uint(uint64(len(m)))
	for _, x := range m {
		e.uint(uint64(x.ContainerID))
		e.uint(uint64(x.HostID))
		e.uint(uint64(x.Size))
	}
}

func (d *dec) idmaps() []specs.LinuxIDMapping {
	n := d.count()
	if n == 0 {
		return nil
	}
	m := make([]specs.LinuxIDMapping, n)
	for i := range m {
		m[i] = specs.LinuxIDMapping{ContainerID: uint32(d.uint()), HostID: uint32(d.uint()), Size: uint32(d.uint())}
	}
	return m
}

func (e *enc) hooks(l []specs.Hook) {
	e.uint(uint64(len(l)))
	for _, h := range l {
		e.str(h.Path)
		e.strs(h.Args)
		e.strs(h.Env)
		if e.has(h.Timeout != nil) {
			e.int(int64(*h.Timeout))
		}
	}
}

func (d *dec) hooks() []specs.Hook {
	n := d.count()
	if n == 0 {
		return nil
	}
	l := make([]specs.Hook, n)
	for i := range l {
		l[i] = specs.Hook{Path: d.str(), Args: d.strs(), Env: d.strs()}
		if d.bool() {
			t := int(d.int())
			l[i].Timeout = &t
		}
	}
	return l
}

func (e *enc) linux(l *specs.Linux) {
	e.uint(uint64(len(l.Namespaces)))
	for _, ns := range l.Namespaces {
		e.str(string(ns.Type))
		e.str(ns.Path)
	}
	e.uint(uint64(len(l.Devices)))
	for _, dv := range l.Devices {
		e.str(dv.Path)
		e.str(dv.Type)
		e.int(dv.Major)
		e.int(dv.Minor)
		if e.has(dv.FileMode != nil) {
			e.uint(uint64(*dv.FileMode))
		}
		if e.has(dv.UID != nil) {
			e.uint(uint64(*dv.UID))
		}
		if e.has(dv.GID != nil) {
			e.uint(uint64(*dv.GID))
		}
	}
	e.uint(uint64(len(l.Sysctl)))
	for k, v := range l.Sysctl {
		e.str(k)
		e.str(v)
	}
	e.str(l.RootfsPropagation)
	e.strs(l.MaskedPaths)
	e.strs(l.ReadonlyPaths)
	if e.has(l.Personality != nil) {
		e.str(string(l.Personality.Domain))
		flags := make([]string, len(l.Personality.Flags))
		for i, f := range l.Personality.Flags {
			flags[i] = string(f)
		}
		e.strs(flags)
	}
	if e.has(l.MemoryPolicy != nil) {
		e.str(string(l.MemoryPolicy.Mode))
		e.str(l.MemoryPolicy.Nodes)
		flags := make([]string, len(l.MemoryPolicy.Flags))
		for i, f := range l.MemoryPolicy.Flags {
			flags[i] = string(f)
		}
		e.strs(flags)
	}
}

func (d *dec) linux() *specs.Linux {
	l := &specs.Linux{}
	if n := d.count(); n > 0 {
		l.Namespaces = make([]specs.LinuxNamespace, n)
		for i := range l.Namespaces {
			l.Namespaces[i] = specs.LinuxNamespace{Type: specs.LinuxNamespaceType(d.str()), Path: d.str()}
		}
	}
	if n := d.count(); n > 0 {
		l.Devices = make([]specs.LinuxDevice, n)
		for i := range l.Devices {
			dv := specs.LinuxDevice{Path: d.str(), Type: d.str(), Major: d.int(), Minor: d.int()}
			if d.bool() {
				m := os.FileMode(d.uint())
				dv.FileMode = &m
			}
			if d.bool() {
				u := uint32(d.uint())
				dv.UID = &u
			}
			if d.bool() {
				g := uint32(d.uint())
				dv.GID = &g
			}
			l.Devices[i] = dv
		}
	}
	if n := d.count(); n > 0 {
		l.Sysctl = make(map[string]string, n)
		for i := 0; i < n; i++ {
			k := d.str()
			l.Sysctl[k] = d.str()
		}
	}
	l.RootfsPropagation = d.str()
	l.MaskedPaths = d.strs()
	l.ReadonlyPaths = d.strs()
	if d.bool() {
		p := &specs.LinuxPersonality{Domain: specs.LinuxPersonalityDomain(d.str())}
		for _, f := range d.strs() {
			p.Flags = append(p.Flags, specs.LinuxPersonalityFlag(f))
		}
		l.Personality = p
	}
	if d.bool() {
		mp := &specs.LinuxMemoryPolicy{Mode: specs.MemoryPolicyModeType(d.str()), Nodes: d.str()}
		for _, f := range d.strs() {
			mp.Flags = append(mp.Flags, specs.MemoryPolicyFlagType(f))
		}
		l.MemoryPolicy = mp
	}
	return l
}

// --- the process

func (e *enc) process(p *specs.Process) {
	e.bool(p.Terminal)
	if e.has(p.ConsoleSize != nil) {
		e.uint(uint64(p.ConsoleSize.Height))
		e.uint(uint64(p.ConsoleSize.Width))
	}
	e.uint(uint64(p.User.UID))
	e.uint(uint64(p.User.GID))
	if e.has(p.User.Umask != nil) {
		e.uint(uint64(*p.User.Umask))
	}
	e.uint(uint64(len(p.User.AdditionalGids)))
	for _, g := range p.User.AdditionalGids {
		e.uint(uint64(g))
	}
	e.str(p.User.Username)
	e.strs(p.Args)
	e.str(p.CommandLine)
	e.strs(p.Env)
	e.str(p.Cwd)
	if c := p.Capabilities; e.has(c != nil) {
		e.strs(c.Bounding)
		e.strs(c.Effective)
		e.strs(c.Inheritable)
		e.strs(c.Permitted)
		e.strs(c.Ambient)
	}
	e.uint(uint64(len(p.Rlimits)))
	for _, r := range p.Rlimits {
		e.str(r.Type)
		e.uint(r.Hard)
		e.uint(r.Soft)
	}
	e.bool(p.NoNewPrivileges)
	e.str(p.ApparmorProfile)
	if e.has(p.OOMScoreAdj != nil) {
		e.int(int64(*p.OOMScoreAdj))
	}
	e.str(p.SelinuxLabel)
	if io := p.IOPriority; e.has(io != nil) {
		e.str(string(io.Class))
		e.int(int64(io.Priority))
	}
	if s := p.Scheduler; e.has(s != nil) {
		e.str(string(s.Policy))
		e.int(int64(s.Nice))
		e.int(int64(s.Priority))
		flags := make([]string, len(s.Flags))
		for i, f := range s.Flags {
			flags[i] = string(f)
		}
		e.strs(flags)
		e.uint(s.Runtime)
		e.uint(s.Deadline)
		e.uint(s.Period)
	}
	if a := p.ExecCPUAffinity; e.has(a != nil) {
		e.str(a.Initial)
		e.str(a.Final)
	}
}

func (d *dec) process() *specs.Process {
	p := &specs.Process{Terminal: d.bool()}
	if d.bool() {
		p.ConsoleSize = &specs.Box{Height: uint(d.uint()), Width: uint(d.uint())}
	}
	p.User.UID, p.User.GID = uint32(d.uint()), uint32(d.uint())
	if d.bool() {
		m := uint32(d.uint())
		p.User.Umask = &m
	}
	if n := d.count(); n > 0 {
		p.User.AdditionalGids = make([]uint32, n)
		for i := range p.User.AdditionalGids {
			p.User.AdditionalGids[i] = uint32(d.uint())
		}
	}
	p.User.Username = d.str()
	p.Args, p.CommandLine, p.Env, p.Cwd = d.strs(), d.str(), d.strs(), d.str()
	if d.bool() {
		p.Capabilities = &specs.LinuxCapabilities{Bounding: d.strs(), Effective: d.strs(),
			Inheritable: d.strs(), Permitted: d.strs(), Ambient: d.strs()}
	}
	if n := d.count(); n > 0 {
		p.Rlimits = make([]specs.POSIXRlimit, n)
		for i := range p.Rlimits {
			p.Rlimits[i] = specs.POSIXRlimit{Type: d.str(), Hard: d.uint(), Soft: d.uint()}
		}
	}
	p.NoNewPrivileges = d.bool()
	p.ApparmorProfile = d.str()
	if d.bool() {
		v := int(d.int())
		p.OOMScoreAdj = &v
	}
	p.SelinuxLabel = d.str()
	if d.bool() {
		p.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPriorityClass(d.str()), Priority: int(d.int())}
	}
	if d.bool() {
		s := &specs.Scheduler{Policy: specs.LinuxSchedulerPolicy(d.str()), Nice: int32(d.int()), Priority: int32(d.int())}
		for _, f := range d.strs() {
			s.Flags = append(s.Flags, specs.LinuxSchedulerFlag(f))
		}
		s.Runtime, s.Deadline, s.Period = d.uint(), d.uint(), d.uint()
		p.Scheduler = s
	}
	if d.bool() {
		p.ExecCPUAffinity = &specs.CPUAffinity{Initial: d.str(), Final: d.str()}
	}
	return p
}
