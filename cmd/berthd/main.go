// Command berthd is Berth's daemon: it serves the Docker Engine API on a
// unix socket and runs the image service (and, later, containers and CRI).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/content"
	"github.com/berth-dev/berth/internal/cri"
	"github.com/berth-dev/berth/internal/dockerapi"
	"github.com/berth-dev/berth/internal/events"
	"github.com/berth-dev/berth/internal/gc"
	"github.com/berth-dev/berth/internal/images"
	"github.com/berth-dev/berth/internal/metadata"
	"github.com/berth-dev/berth/internal/network"
	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/shim"
	"github.com/berth-dev/berth/internal/snapshot"
	"github.com/berth-dev/berth/internal/volume"
)

var version = "dev"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "berthd:", err)
		os.Exit(1)
	}
}

func run() error {
	cfgPath := flag.String("config", "/etc/berth/berth.toml", "configuration file")
	root := flag.String("root", "", "data root (default /var/lib/berth)")
	state := flag.String("state", "", "runtime state dir (default /run/berth)")
	sock := flag.String("host", "", "Docker API unix socket (default <state>/berth.sock)")
	criSock := flag.String("cri-socket", "", "CRI unix socket (default <state>/cri.sock)")
	level := flag.String("log-level", "", "debug, info, warn or error")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println("berthd", version)
		return nil
	}
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "config" })
	cfg, err := loadConfig(*cfgPath, explicit)
	if err != nil {
		return err
	}
	if *root != "" {
		cfg.Root = *root
	}
	if *state != "" {
		cfg.State = *state
		if *sock == "" {
			cfg.Socket = filepath.Join(*state, "berth.sock")
		}
		if *criSock == "" {
			cfg.CRISocket = filepath.Join(*state, "cri.sock")
		}
	}
	if *sock != "" {
		cfg.Socket = *sock
	}
	if *criSock != "" {
		cfg.CRISocket = *criSock
	}
	if *level != "" {
		cfg.LogLevel = *level
	}
	lvl, err := parseLevel(cfg.LogLevel)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	slog.SetDefault(log)

	d, err := openDaemon(cfg, log)
	if err != nil {
		return err
	}
	defer d.close()
	return d.serve()
}

// daemon holds the wired services.
type daemon struct {
	cfg   config
	log   *slog.Logger
	meta  *metadata.DB
	snaps snapshot.Snapshotter
	imgs  *images.Service
	ctrs  *container.Service
	vols  *volume.Store
	nets  *network.Manager
	cri   *cri.Server
	gc    *gc.Collector
	api   *dockerapi.Server
}

type snapshotterWithDirect interface {
	snapshot.Snapshotter
	snapshot.DirectWriter
	DeferSync()
}

func openDaemon(cfg config, log *slog.Logger) (*daemon, error) {
	for _, dir := range []string{cfg.Root, cfg.State, filepath.Join(cfg.Root, "tmp")} {
		if err := os.MkdirAll(dir, 0o711); err != nil {
			return nil, err
		}
	}
	// The metadata lock is the single-instance guard for this root.
	meta, err := metadata.Open(filepath.Join(cfg.Root, "metadata.db"))
	if err != nil {
		return nil, err
	}
	d := &daemon{cfg: cfg, log: log, meta: meta}
	cs, err := content.Open(filepath.Join(cfg.Root, "content"))
	if err != nil {
		d.close()
		return nil, err
	}
	var snaps snapshotterWithDirect
	switch cfg.Snapshotter {
	case "native":
		snaps, err = snapshot.OpenNative(filepath.Join(cfg.Root, "snapshots", "native"))
	default:
		snaps, err = snapshot.OpenOverlay(filepath.Join(cfg.Root, "snapshots", "overlay"))
	}
	if err != nil {
		d.close()
		return nil, fmt.Errorf("snapshotter %s: %w", cfg.Snapshotter, err)
	}
	d.snaps = snaps
	// Pulls flush once, in the background, instead of per blob and per
	// layer (internal/images/durable.go says how crashes stay safe).
	cs.NoSync = true
	snaps.DeferSync()
	hub := events.NewHub()
	d.imgs = &images.Service{
		Content:   cs,
		Meta:      meta,
		Snaps:     snaps,
		Registry:  registry.New(registry.Config{Mirrors: cfg.Registry.Mirrors, Insecure: cfg.Registry.Insecure}),
		Log:       log,
		Downloads: cfg.MaxConcurrentDownloads,
		SyncDirs:  []string{filepath.Join(cfg.Root, "content"), filepath.Join(cfg.Root, "snapshots")},
		Publish: func(e images.Event) {
			hub.Publish(events.Event{Type: "image", Action: e.Action, ID: firstNonEmpty(e.Name, e.ID), Attributes: map[string]string{"name": e.Name}})
		},
	}
	d.ctrs = &container.Service{
		Meta: meta, Images: d.imgs, Snaps: snaps, Events: hub, Log: log,
		Root: cfg.Root, State: cfg.State, Shim: findBinary("berth-shim"),
		Runtimes: runtimes(cfg), Default: "berth-oci", InitPath: findInit(),
		RootfsAhead: cfg.Containers.RootfsAhead == nil || *cfg.Containers.RootfsAhead,
	}
	// berth-shim-rt links the runtime (see shim.InProcess): the shim
	// every start launches, or takes as a spare.
	if rt := findBinary("berth-shim-rt"); filepath.IsAbs(rt) {
		d.ctrs.Shim = rt
	}
	d.ctrs.Spares = &shim.Spares{Binary: d.ctrs.Shim, Dir: filepath.Join(cfg.State, "shims"), Log: log}
	d.ctrs.NonePool = &network.NonePool{Dir: filepath.Join(cfg.State, "netns-none"), Log: log}
	d.nets = &network.Manager{Meta: meta, State: filepath.Join(cfg.State, "network"), PluginDirs: cfg.Network.PluginDirs,
		DefaultBridge: cfg.Network.DefaultBridge, DefaultSubnet: cfg.Network.DefaultSubnet, Log: log}
	if err := d.nets.Init(context.Background()); err != nil {
		d.close()
		return nil, fmt.Errorf("networks: %w", err)
	}
	d.ctrs.Networks = d.nets
	d.imgs.InUse = d.ctrs.InUse
	d.vols = &volume.Store{Meta: meta, Root: filepath.Join(cfg.Root, "volumes"), InUse: d.ctrs.VolumeUsers}
	d.ctrs.Volumes = d.vols
	d.gc = &gc.Collector{Content: cs, Snaps: snaps, Sources: []gc.Source{d.imgs.Roots, d.ctrs.Roots}, IngestAge: 24 * time.Hour, Log: log, Lock: &d.imgs.GCLock}
	d.cri = &cri.Server{CNIConfDir: cfg.CRI.CNIConfDir, Network: cfg.CRI.Network, Meta: meta, Pause: findBinary("berth-shim"), Containers: d.ctrs, Events: hub, State: filepath.Join(cfg.State, "cri"), Images: d.imgs, GC: d.gc, Networks: d.nets, Log: log, RuntimeVersion: version, Root: cfg.Root}
	d.ctrs.NetworkOwners = d.cri.SandboxIDs
	d.api = &dockerapi.Server{Images: d.imgs, Containers: d.ctrs, Volumes: d.vols, Networks: d.nets, Events: hub, GC: d.gc, Log: log, Version: version, Root: cfg.Root, Started: time.Now()}
	return d, nil
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// recover cleans up after a previous daemon: images whose flush a crash
// interrupted, containers whose shims live on or ended meanwhile, staging
// files, and whatever GC finds unreferenced (leases are in memory, so
// nothing of an interrupted pull is protected now).
func (d *daemon) recover(ctx context.Context) {
	if err := d.imgs.Recover(ctx); err != nil {
		d.log.Warn("recovering images", "err", err)
	}
	if err := d.ctrs.Init(ctx); err != nil {
		d.log.Warn("containers", "err", err)
	}
	d.cri.Recover()
	if err := d.ctrs.Recover(ctx); err != nil {
		d.log.Warn("recovering containers", "err", err)
	}
	// After the recovery, which ends spares a previous daemon left.
	d.ctrs.Spares.Fill()
	d.ctrs.NonePool.Fill()
	os.RemoveAll(filepath.Join(d.cfg.Root, "tmp"))
	os.MkdirAll(filepath.Join(d.cfg.Root, "tmp"), 0o700)
	if _, err := d.gc.Collect(ctx); err != nil {
		d.log.Warn("startup garbage collection", "err", err)
	}
}

func (d *daemon) close() {
	if d.ctrs != nil {
		d.ctrs.Settle() // background removals still need the snapshotter
		d.ctrs.Spares.Close()
		d.ctrs.NonePool.Close()
		d.ctrs.CloseRootfs()
	}
	if d.nets != nil {
		d.nets.Close()
	}
	if d.snaps != nil {
		d.snaps.Close()
	}
	d.meta.Close()
}

// listenUnix takes over a stale socket but refuses a live one.
func listenUnix(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o711); err != nil {
		return nil, err
	}
	if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
		c.Close()
		return nil, fmt.Errorf("%s is in use: another daemon is running", path)
	}
	os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

func (d *daemon) serve() error {
	l, err := listenUnix(d.cfg.Socket)
	if err != nil {
		return err
	}
	// Cancelling the base context ends streaming handlers (events, pulls
	// of clients that stay connected) so shutdown does not wait on them.
	base, stop := context.WithCancel(context.Background())
	defer stop()
	d.imgs.StartSyncer(base)
	d.recover(base)
	srv := &http.Server{Handler: d.api.Handler(), ReadHeaderTimeout: 30 * time.Second,
		BaseContext: func(net.Listener) context.Context { return base }}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	if d.cfg.CRISocket != "" {
		// Listening before the Engine API answers: a client that waits
		// for the daemon there (a kubelet's wrapper, a test) finds the CRI
		// socket too.
		if cl, err := d.cri.Listen(d.cfg.CRISocket); err != nil {
			d.log.Error("CRI server", "socket", d.cfg.CRISocket, "err", err)
		} else {
			go func() {
				if err := d.cri.ServeOn(cl); err != nil {
					d.log.Error("CRI server", "socket", d.cfg.CRISocket, "err", err)
				}
			}()
		}
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	d.log.Info("berthd ready", "version", version, "socket", d.cfg.Socket, "root", d.cfg.Root, "snapshotter", d.cfg.Snapshotter)
	select {
	case sig := <-sigs:
		d.log.Info("shutting down", "signal", sig.String())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stop()
		d.cri.Stop()
		os.Remove(d.cfg.CRISocket)
		srv.Shutdown(ctx)
		if err := d.imgs.Flush(); err != nil {
			d.log.Warn("flushing images at shutdown", "err", err)
		}
		os.Remove(d.cfg.Socket)
		return nil
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}

// findBinary looks for a helper binary next to berthd, then on PATH.
func findBinary(name string) string {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return name
}

// runtimes lists the OCI runtimes containers may choose: berth-oci, and
// runc and crun when installed, plus the configured ones.
func runtimes(cfg config) map[string]string {
	rt := map[string]string{"berth-oci": findBinary("berth-oci")}
	for _, n := range []string{"runc", "crun"} {
		if p, err := exec.LookPath(n); err == nil {
			rt[n] = p
		}
	}
	for n, p := range cfg.Runtimes {
		rt[n] = p
	}
	return rt
}

// findInit finds a small init for --init (tini, as Docker ships it).
func findInit() string {
	for _, n := range []string{"docker-init", "tini-static", "tini"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}
