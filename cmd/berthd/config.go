package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/berth-dev/berth/internal/errdefs"
)

// config is /etc/berth/berth.toml. Every field has a default, so the file
// is optional.
type config struct {
	Root                   string            `toml:"root"`
	State                  string            `toml:"state"`
	Socket                 string            `toml:"socket"`
	CRISocket              string            `toml:"cri_socket"`
	LogLevel               string            `toml:"log_level"`
	Snapshotter            string            `toml:"snapshotter"` // overlay | native
	MaxConcurrentDownloads int               `toml:"max_concurrent_downloads"`
	Registry               registryConfig    `toml:"registry"`
	Runtimes               map[string]string `toml:"runtimes"` // name -> binary
	Network                networkConfig     `toml:"network"`
	CRI                    criConfig         `toml:"cri"`
	Containers             containersConfig  `toml:"containers"`
}

type containersConfig struct {
	// RootfsAhead: make the writable layer of the next container, for the
	// image last created from, and mount it ahead (one at most): a create
	// then skips the snapshot and the overlay mount. Default true.
	RootfsAhead *bool `toml:"rootfs_ahead"`
}

type criConfig struct {
	// CNIConfDir: pods join the CNI network configured there (a kubelet
	// deployment's /etc/cni/net.d); empty: they join Network.
	CNIConfDir string `toml:"cni_conf_dir"`
	// Network is the berth network pods join (default: the default one).
	Network string `toml:"network"`
}

type networkConfig struct {
	// PluginDirs are searched for the CNI plugins (default /opt/cni/bin,
	// then Debian's /usr/lib/cni).
	PluginDirs []string `toml:"cni_plugin_dirs"`
	// The default network's bridge and subnet, used when it is first
	// created (Docker's "bridge" and "bip").
	DefaultBridge string `toml:"default_bridge"`
	DefaultSubnet string `toml:"default_subnet"`
}

type registryConfig struct {
	Mirrors  map[string][]string `toml:"mirrors"`  // "docker.io" = ["http://127.0.0.1:5000"]
	Insecure []string            `toml:"insecure"` // hosts or CIDRs
}

func defaultConfig() config {
	return config{
		Root:                   "/var/lib/berth",
		State:                  "/run/berth",
		Socket:                 "/run/berth/berth.sock",
		CRISocket:              "/run/berth/cri.sock",
		LogLevel:               "info",
		Snapshotter:            "overlay",
		MaxConcurrentDownloads: 3,
	}
}

// loadConfig reads path over the defaults. A missing file is fine only
// when the path was not given explicitly.
func loadConfig(path string, explicit bool) (config, error) {
	c := defaultConfig()
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	md, err := toml.Decode(string(b), &c)
	if err != nil {
		return c, errdefs.InvalidArgument("config %s: %v", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		var keys []string
		for _, k := range und {
			keys = append(keys, k.String())
		}
		return c, errdefs.InvalidArgument("config %s: unknown keys: %s", path, strings.Join(keys, ", "))
	}
	if c.Snapshotter != "overlay" && c.Snapshotter != "native" {
		return c, errdefs.InvalidArgument("config %s: snapshotter %q: want overlay or native", path, c.Snapshotter)
	}
	if c.MaxConcurrentDownloads < 1 {
		return c, errdefs.InvalidArgument("config %s: max_concurrent_downloads must be at least 1", path)
	}
	if s := c.Network.DefaultSubnet; s != "" {
		if p, err := netip.ParsePrefix(s); err != nil || !p.Addr().Is4() || p.Bits() > 30 {
			return c, errdefs.InvalidArgument("config %s: network.default_subnet %q: want an IPv4 CIDR of /30 or larger", path, s)
		}
	}
	if b := c.Network.DefaultBridge; len(b) > 15 || strings.ContainsAny(b, "/ \t") {
		return c, errdefs.InvalidArgument("config %s: network.default_bridge %q is not a valid interface name", path, b)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, errdefs.InvalidArgument("log level %q: want debug, info, warn or error", s)
	}
	return l, nil
}
