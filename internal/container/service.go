package container

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	nettypes "github.com/moby/moby/api/types/network"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/events"
	"github.com/berth-dev/berth/internal/gc"
	"github.com/berth-dev/berth/internal/images"
	"github.com/berth-dev/berth/internal/metadata"
	"github.com/berth-dev/berth/internal/network"
	"github.com/berth-dev/berth/internal/shim"
	"github.com/berth-dev/berth/internal/snapshot"
	"github.com/berth-dev/berth/internal/specgen"
	"github.com/berth-dev/berth/internal/volume"
)

// Snapshotter is what containers need from the snapshotter.
type Snapshotter interface {
	Prepare(ctx context.Context, key, parent string, labels map[string]string) ([]snapshot.Mount, error)
	Mounts(ctx context.Context, key string) ([]snapshot.Mount, error)
	Remove(ctx context.Context, key string) error
	Usage(ctx context.Context, key string) (snapshot.Usage, error)
}

// Service runs containers.
type Service struct {
	Meta    *metadata.DB
	Images  *images.Service
	Snaps   Snapshotter
	Volumes *volume.Store
	// Networks gives containers CNI networks; nil leaves every container
	// but host-network ones with a namespace of its own holding only lo.
	Networks *network.Manager
	// NetworkOwners, if set, lists the IDs of others' endpoints on the
	// networks (the CRI's pod sandboxes), which recovery must not take
	// for leftovers.
	NetworkOwners func() []string
	Events        *events.Hub
	Log           *slog.Logger

	Root  string // /var/lib/berth: containers/<id>/ (logs, hosts files)
	State string // /run/berth: containers/<id>/ (bundle), shims/<id>/
	Shim  string // the berth-shim binary
	// Spares, if set, has a shim launched ahead of each start.
	Spares *shim.Spares
	// NonePool, if set, gives containers on no network a namespace
	// with lo up (made ahead); without it the runtime makes one.
	NonePool *network.NonePool
	Runtimes map[string]string // name -> binary; "berth-oci" is the default
	Default  string            // default runtime name
	InitPath string            // binary for --init
	// RootfsAhead has the writable layer of the next container made and
	// mounted ahead (see rootspare.go).
	RootfsAhead bool

	mu      sync.Mutex
	locks   map[string]*sync.Mutex
	changed chan struct{} // closed and replaced on every state change
	pending map[string][]*pendingAttach
	closing map[string]chan struct{} // shims finishing their runtime's delete
	// premounts are rootfs mounts made right after creates (premount).
	premounts map[string]chan error
	// removedExits keep the exits of removed containers for late waiters.
	removedExits map[string]WaitResult
	cleanups     sync.WaitGroup // background removals (RemoveOptions.Background)
	removedOrder []string
	// hidden are removed --rm containers whose record's deletion is
	// being committed (exitAndRemove): Get and List no longer show them;
	// the channel closes once the record is gone.
	hidden map[string]chan struct{}
	ctx    context.Context // the daemon's lifetime, for monitors

	// The rootfs spare (see rootspare.go) and what the next is made for.
	spareRoot   *rootfsSpare
	fillingRoot *rootfsSpare // being made: its snapshot is live for GC
	rootClosed  bool
	rootWG      sync.WaitGroup
	lastRoot    rootfsSpare // image, parent and autoRemove of the last create
}

// Init prepares the service; ctx bounds background monitors.
func (s *Service) Init(ctx context.Context) error {
	s.locks = map[string]*sync.Mutex{}
	s.changed = make(chan struct{})
	s.pending = map[string][]*pendingAttach{}
	s.closing = map[string]chan struct{}{}
	s.premounts = map[string]chan error{}
	s.hidden = map[string]chan struct{}{}
	s.ctx = ctx
	for _, d := range []string{filepath.Join(s.Root, "containers"), filepath.Join(s.State, "containers"), filepath.Join(s.State, "shims")} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) lock(id string) func() {
	s.mu.Lock()
	l, ok := s.locks[id]
	if !ok {
		l = &sync.Mutex{}
		s.locks[id] = l
	}
	s.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// notify wakes everyone waiting for a state change.
func (s *Service) notify() {
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

func (s *Service) changes() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

func (s *Service) publish(action string, c *Container, extra map[string]string) {
	if s.Events == nil {
		return
	}
	attrs := map[string]string{"name": c.Name, "image": c.ImageRef}
	for k, v := range c.Config.Labels {
		attrs[k] = v
	}
	for k, v := range extra {
		attrs[k] = v
	}
	s.Events.Publish(events.Event{Type: "container", Action: action, ID: c.ID, Attributes: attrs})
}

func (s *Service) log() *slog.Logger {
	if s.Log == nil {
		return slog.Default()
	}
	return s.Log
}

// Directories of a container.
func (s *Service) dataDir(id string) string   { return filepath.Join(s.Root, "containers", id) }
func (s *Service) bundleDir(id string) string { return filepath.Join(s.State, "containers", id) }
func (s *Service) shimDir(id string) string   { return filepath.Join(s.State, "shims", id) }
func (s *Service) runtimeRoot() string        { return filepath.Join(s.State, "runtime") }

// LogPath is where a container's json-file log lives.
func (s *Service) LogPath(id string) string {
	return filepath.Join(s.dataDir(id), id+"-json.log")
}

// logTarget is where and how a container's shim writes its log.
func (s *Service) logTarget(c *Container) (path, format string) {
	if c.CRILogPath != "" {
		return c.CRILogPath, "cri"
	}
	return s.LogPath(c.ID), "json-file"
}

// Get resolves a full ID, a unique ID prefix or a name.
func (s *Service) Get(term string) (*Container, error) {
	var c Container
	hidden := s.hiddenNow()
	if _, ok := hidden[term]; ok {
		// A removed --rm container's waiters ask by ID the moment it is
		// hidden: no need to read the record.
		return nil, errdefs.NotFound("No such container: %s", term)
	}
	err := s.Meta.View(func(tx *metadata.Tx) error {
		id, err := resolve(tx, term)
		if err != nil {
			return err
		}
		c, err = containersTable.Get(tx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	if _, ok := hidden[c.ID]; ok {
		return nil, errdefs.NotFound("No such container: %s", term)
	}
	return &c, nil
}

// record reads a container's record by ID, hidden or not.
func (s *Service) record(id string) (*Container, error) {
	var c Container
	err := s.Meta.View(func(tx *metadata.Tx) error {
		var err error
		c, err = containersTable.Get(tx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// hiddenNow copies the hidden set. Readers take it before their read
// transaction: a record that transaction still sees (its deletion being
// committed after it began) was hidden when the copy was made.
func (s *Service) hiddenNow() map[string]struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.hidden) == 0 {
		return nil
	}
	m := make(map[string]struct{}, len(s.hidden))
	for id := range s.hidden {
		m[id] = struct{}{}
	}
	return m
}

// hide makes Get and List treat id as removed until reveal; removals
// that wait for its record to be gone use awaitHidden.
func (s *Service) hide(id string) chan struct{} {
	ch := make(chan struct{})
	s.mu.Lock()
	s.hidden[id] = ch
	s.mu.Unlock()
	return ch
}

func (s *Service) reveal(id string, ch chan struct{}) {
	s.mu.Lock()
	if s.hidden[id] == ch {
		delete(s.hidden, id)
	}
	s.mu.Unlock()
	close(ch)
	s.notify()
}

func (s *Service) isHidden(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.hidden[id]
	return ok
}

// awaitHidden waits until the record of a hidden container is gone (or
// it is shown again); false if id is not hidden.
func (s *Service) awaitHidden(id string) bool {
	s.mu.Lock()
	ch, ok := s.hidden[id]
	s.mu.Unlock()
	if ok {
		<-ch
	}
	return ok
}

func resolve(tx *metadata.Tx, term string) (string, error) {
	name := strings.TrimPrefix(term, "/")
	if containersTable.Has(tx, term) {
		return term, nil
	}
	if id, err := namesTable.Get(tx, name); err == nil {
		return id, nil
	}
	if term != "" {
		var match []string
		for _, k := range containersTable.Keys(tx) {
			if strings.HasPrefix(k, term) {
				match = append(match, k)
			}
		}
		if len(match) == 1 {
			return match[0], nil
		}
		if len(match) > 1 {
			return "", errdefs.InvalidArgument("multiple containers found with provided prefix: %s", term)
		}
	}
	return "", errdefs.NotFound("No such container: %s", term)
}

// List returns all containers, newest first.
func (s *Service) List() ([]Container, error) {
	var out []Container
	hidden := s.hiddenNow()
	err := s.Meta.View(func(tx *metadata.Tx) error {
		return containersTable.Each(tx, func(_ string, c Container) error {
			if _, ok := hidden[c.ID]; !ok {
				out = append(out, c)
			}
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, err
}

// update applies fn to the stored record under the container's lock
// (the caller holds it) and wakes waiters.
func (s *Service) update(id string, fn func(c *Container) error) (*Container, error) {
	var out Container
	err := s.Meta.Update(func(tx *metadata.Tx) error {
		c, err := containersTable.Get(tx, id)
		if err != nil {
			return err
		}
		if err := fn(&c); err != nil {
			return err
		}
		out = c
		return containersTable.Put(tx, id, c)
	})
	if err != nil {
		return nil, err
	}
	s.notify()
	return &out, nil
}

// CreateOptions are what POST /containers/create carries.
type CreateOptions struct {
	Name             string
	Config           *container.Config
	HostConfig       *container.HostConfig
	NetworkingConfig *nettypes.NetworkingConfig
	// Pod and CRILogPath: see Container (the CRI's containers).
	Pod        *Pod
	CRILogPath string
}

// Create records a container and prepares its writable layer. Nothing runs
// until Start.
func (s *Service) Create(ctx context.Context, opts CreateOptions) (*Container, error) {
	if opts.Config == nil || opts.Config.Image == "" {
		return nil, errdefs.InvalidArgument("no image specified")
	}
	if opts.HostConfig == nil {
		opts.HostConfig = &container.HostConfig{}
	}
	if err := checkHostConfig(opts.HostConfig); err != nil {
		return nil, err
	}
	if opts.Pod != nil {
		// The pod's namespaces take the place of the network mode.
		opts.HostConfig.NetworkMode = "none"
	}
	if m := opts.HostConfig.NetworkMode; m == "" || m == "default" {
		opts.HostConfig.NetworkMode = network.DefaultName
	}
	endpoints, err := s.resolveEndpoints(opts.HostConfig, opts.NetworkingConfig)
	if err != nil {
		return nil, err
	}
	img, err := s.Images.Get(ctx, opts.Config.Image)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil, errdefs.NotFound("No such image: %s", opts.Config.Image)
		}
		return nil, err
	}
	rt := opts.HostConfig.Runtime
	if rt == "" {
		rt = s.Default
	}
	if _, ok := s.Runtimes[rt]; !ok {
		return nil, errdefs.InvalidArgument("unknown or invalid runtime name: %s", rt)
	}
	name := strings.TrimPrefix(opts.Name, "/")
	if name != "" {
		if err := checkName(name); err != nil {
			return nil, err
		}
	}
	cfg, err := s.Images.Config(ctx, img.Image)
	if err != nil {
		return nil, fmt.Errorf("create container: image config: %w", err)
	}
	mounts, err := s.resolveMounts(opts.HostConfig.Binds, opts.HostConfig.Mounts, images.Defaults(cfg).Volumes)
	if err != nil {
		return nil, err
	}
	parent := img.TopChainID().String()
	id := newID()
	var spare *rootfsSpare
	if opts.Pod == nil {
		// Taken now: the container's ID is the spare's.
		if spare = s.takeRootfs(parent, opts.HostConfig.AutoRemove); spare != nil {
			id = spare.id
			defer func() {
				if spare != nil { // not handed over to the create
					s.dropRootfs(spare)
				}
			}()
		}
	}
	c := &Container{
		Mounts: mounts,
		ID:     id, Name: name, Image: img.ID.String(), ImageRef: opts.Config.Image, Created: time.Now().UTC(),
		Config: opts.Config, HostConfig: opts.HostConfig, Runtime: rt, State: State{Status: StatusCreated},
		Endpoints: endpoints, Pod: opts.Pod, CRILogPath: opts.CRILogPath,
	}
	if id, ok := strings.CutPrefix(string(c.HostConfig.NetworkMode), "container:"); ok {
		// As in Docker: the other container's network, and its name.
		if c.Config.Hostname != "" {
			return nil, errdefs.InvalidArgument("conflicting options: hostname and the network mode")
		}
		if other, err := s.Get(id); err == nil {
			c.Config.Hostname, c.Config.Domainname = other.Config.Hostname, other.Config.Domainname
		}
	}
	if c.Config.Hostname == "" && c.Pod == nil { // a pod's containers have its UTS namespace
		c.Config.Hostname = c.ID[:12]
	}
	if err := s.validate(c, images.Defaults(cfg)); err != nil {
		for _, m := range mounts {
			if m.Type == "volume" && m.Anonymous && s.Volumes != nil {
				s.Volumes.Remove(ctx, m.Name, false)
			}
		}
		return nil, err
	}
	// Undo on error: the snapshot and directories made so far.
	var undo []func()
	defer func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}()
	labels := map[string]string{"berth.container": c.ID}
	if c.HostConfig.AutoRemove {
		labels[snapshot.LabelEphemeral] = "1"
	}
	// The writable layer and the record are two databases: committed in
	// parallel; the rootfs is mounted as soon as the layer exists.
	prepared := make(chan error, 1)
	if spare != nil {
		// Prepared and mounted already.
		done := make(chan error, 1)
		done <- nil
		s.mu.Lock()
		s.premounts[c.ID] = done
		s.mu.Unlock()
		prepared <- nil
		spare = nil
	} else {
		go func() {
			_, err := s.Snaps.Prepare(ctx, c.ID, parent, labels)
			if err == nil {
				s.premount(c)
			}
			prepared <- err
		}()
	}
	undo = append(undo, func() {
		if <-prepared == nil {
			s.waitPremount(c.ID)
			snapshot.UnmountAll(filepath.Join(s.bundleDir(c.ID), "rootfs"))
			os.RemoveAll(s.bundleDir(c.ID))
			s.Snaps.Remove(context.WithoutCancel(ctx), c.ID)
		}
	})
	if err := os.MkdirAll(s.dataDir(c.ID), 0o710); err != nil {
		return nil, err
	}
	undo = append(undo, func() { os.RemoveAll(s.dataDir(c.ID)) })
	var hiddenOwner string
	record := func(tx *metadata.Tx) error {
		hiddenOwner = ""
		if c.Name == "" {
			for c.Name = generatedName(); namesTable.Has(tx, c.Name); c.Name = generatedName() {
			}
		} else if other, err := namesTable.Get(tx, c.Name); err == nil {
			if s.isHidden(other) {
				hiddenOwner = other
				return errNameHidden
			}
			return errdefs.Conflict(`Conflict. The container name "/%s" is already in use by container "%s". You have to remove (or rename) that container to be able to reuse that name.`, c.Name, other)
		}
		if err := namesTable.Put(tx, c.Name, c.ID); err != nil {
			return err
		}
		return containersTable.Put(tx, c.ID, *c)
	}
	err = s.Meta.Update(record)
	if errors.Is(err, errNameHidden) && s.awaitHidden(hiddenOwner) {
		// The name's owner is a --rm container whose removal is being
		// committed: its name is free once that is done.
		err = s.Meta.Update(record)
	}
	if errors.Is(err, errNameHidden) {
		err = errdefs.Conflict(`Conflict. The container name "/%s" is already in use by container "%s". You have to remove (or rename) that container to be able to reuse that name.`, c.Name, hiddenOwner)
	}
	if err != nil {
		return nil, err
	}
	if err := <-prepared; err != nil {
		prepared <- err // for the undo
		s.Meta.Update(func(tx *metadata.Tx) error {
			namesTable.Delete(tx, c.Name)
			return containersTable.Delete(tx, c.ID)
		})
		return nil, fmt.Errorf("create container: writable layer: %w", err)
	}
	undo = nil
	if c.Pod == nil {
		s.noteRootfs(c.Image, parent, c.HostConfig.AutoRemove)
	}
	s.publish("create", c, nil)
	return c, nil
}

// errNameHidden: the name asked for belongs to a hidden container.
var errNameHidden = errors.New("name held by a container being removed")

var validNetName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// checkHostConfig rejects what this daemon cannot do, clearly.
func checkHostConfig(h *container.HostConfig) error {
	switch p := h.RestartPolicy; p.Name {
	case "", "no", "always", "unless-stopped":
		if p.MaximumRetryCount != 0 {
			return errdefs.InvalidArgument("maximum retry count cannot be used with restart policy '%s'", p.Name)
		}
	case "on-failure":
		if p.MaximumRetryCount < 0 {
			return errdefs.InvalidArgument("invalid restart policy: maximum retry count cannot be negative")
		}
	default:
		return errdefs.InvalidArgument("invalid restart policy '%s'", p.Name)
	}
	for _, o := range h.SecurityOpt {
		// A profile path would make the daemon read a file of the API
		// client's choosing: clients send the profile itself, as the
		// docker CLI does.
		if v, ok := strings.CutPrefix(o, "seccomp="); ok && v != "unconfined" && v != "builtin" && !strings.HasPrefix(strings.TrimSpace(v), "{") {
			return errdefs.InvalidArgument("security-opt %q: send the seccomp profile's JSON, not a path on the daemon's host", o)
		}
	}
	if h.AutoRemove && h.RestartPolicy.Name != "" && h.RestartPolicy.Name != "no" {
		return errdefs.InvalidArgument("can't create 'AutoRemove' container with restart policy")
	}
	if m := string(h.NetworkMode); m != "" && !strings.HasPrefix(m, "container:") && !validNetName.MatchString(m) {
		return errdefs.InvalidArgument("invalid network mode %q", m)
	}
	return nil
}

// Roots keeps container snapshots from garbage collection.
func (s *Service) Roots(ctx context.Context, r gc.Roots) error {
	s.mu.Lock()
	for _, sp := range []*rootfsSpare{s.spareRoot, s.fillingRoot} {
		if sp != nil {
			r.Snapshots[sp.id] = true
		}
	}
	s.mu.Unlock()
	return s.Meta.View(func(tx *metadata.Tx) error {
		return containersTable.Each(tx, func(id string, c Container) error {
			r.Snapshots[id] = true
			return nil
		})
	})
}

// InUse reports whether a container uses image id.
func (s *Service) InUse(id string) bool {
	// The rootfs spare of the image is no use: it would keep the image's
	// layers.
	s.dropRootfsOf(id)
	used := false
	s.Meta.View(func(tx *metadata.Tx) error {
		return containersTable.Each(tx, func(_ string, c Container) error {
			used = used || c.Image == id
			return nil
		})
	})
	return used
}

// validate generates the spec once at create with what is known then, so
// bad values (an unknown capability, a bad security-opt or tmpfs option)
// fail the create, as in Docker, instead of leaving a container that can
// never start. The user is resolved, and other containers' namespaces are
// joined, only at start.
func (s *Service) validate(c *Container, def images.RuntimeDefaults) error {
	if _, _, err := logLimits(c); err != nil {
		return err
	}
	probe := *c
	h := *c.HostConfig
	for _, m := range []*container.NetworkMode{&h.NetworkMode} {
		if strings.HasPrefix(string(*m), "container:") {
			*m = "none"
		}
	}
	if strings.HasPrefix(string(h.IpcMode), "container:") {
		h.IpcMode = ""
	}
	if strings.HasPrefix(string(h.PidMode), "container:") {
		h.PidMode = ""
	}
	probe.HostConfig = &h
	cfg := *c.Config
	cfg.User = ""
	probe.Config = &cfg
	opts, err := s.specOptions(&probe, "/nonexistent", "/dev/null", "/dev/null", "/dev/null")
	if err != nil {
		return err
	}
	for _, m := range c.Mounts {
		opts.Mounts = append(opts.Mounts, specgen.Mount{Type: map[bool]string{true: "bind", false: m.Type}[m.Type == "volume"],
			Source: m.Source, Destination: m.Destination, ReadOnly: m.ReadOnly, Propagation: m.Propagation, Options: m.Options})
	}
	_, err = specgen.Generate(specgen.Image{Env: def.Env, Entrypoint: def.Entrypoint, Cmd: def.Cmd,
		WorkingDir: def.WorkingDir, StopSignal: def.StopSignal, Volumes: def.Volumes, Labels: def.Labels}, opts)
	return err
}
