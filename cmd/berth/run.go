package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/docker/go-units"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/berth-dev/berth/internal/errdefs"
)

// runFlags are docker run's and docker create's options.
type runFlags struct {
	name, hostname, workdir, user, entrypoint, restart, network, stopSignal, platform, pull, runtime string
	shmSize, memory, memorySwap, memoryReservation, cpus, cpusetCpus, cpusetMems                     string
	env, envFile, labels, tmpfs, capAdd, capDrop, securityOpt, ulimits, volumes, mounts, logOpts     []string
	addHosts, dns, dnsSearch, dnsOpts, groupAdd, devices, sysctls                                    []string
	publish, expose, aliases                                                                         []string
	ip, ip6, mac                                                                                     string
	publishAll                                                                                       bool
	detach, rm, interactive, tty, readOnly, privileged, init                                         bool
	cpuShares, pidsLimit                                                                             int64
	stopTimeout                                                                                      int
}

func (f *runFlags) add(fs *pflag.FlagSet, run bool) {
	fs.Bool("help", false, "print usage") // frees -h for --hostname, as in docker
	fs.StringVar(&f.name, "name", "", "assign a name to the container")
	fs.StringVarP(&f.hostname, "hostname", "h", "", "container host name")
	fs.StringVarP(&f.workdir, "workdir", "w", "", "working directory inside the container")
	fs.StringVarP(&f.user, "user", "u", "", "username or UID (format: <name|uid>[:<group|gid>])")
	fs.StringVar(&f.entrypoint, "entrypoint", "", "overwrite the default ENTRYPOINT of the image")
	fs.StringVar(&f.restart, "restart", "no", "restart policy: no, on-failure[:max-retries], always, unless-stopped")
	fs.StringVar(&f.network, "network", "", "connect a container to a network (bridge, a network's name, none, host, container:<name|id>)")
	fs.StringVar(&f.network, "net", "", "connect a container to a network")
	fs.MarkHidden("net")
	fs.StringArrayVarP(&f.publish, "publish", "p", nil, "publish a container's port(s) to the host ([ip:][hostPort:]containerPort[/proto])")
	fs.BoolVarP(&f.publishAll, "publish-all", "P", false, "publish all exposed ports to random ports")
	fs.StringArrayVar(&f.expose, "expose", nil, "expose a port or a range of ports")
	fs.StringArrayVar(&f.aliases, "network-alias", nil, "add network-scoped alias for the container")
	fs.StringVar(&f.ip, "ip", "", "IPv4 address (e.g., 172.30.100.104)")
	fs.StringVar(&f.ip6, "ip6", "", "IPv6 address (e.g., 2001:db8::33)")
	fs.StringVar(&f.mac, "mac-address", "", "container MAC address (e.g., 92:d0:c6:0a:29:33)")
	fs.StringVar(&f.stopSignal, "stop-signal", "", "signal to stop the container")
	fs.IntVar(&f.stopTimeout, "stop-timeout", -1, "timeout (in seconds) to stop a container")
	fs.StringVar(&f.platform, "platform", "", "set platform if server is multi-platform capable")
	fs.StringVar(&f.pull, "pull", "missing", `pull image before running ("always", "missing", "never")`)
	fs.StringVar(&f.runtime, "runtime", "", "runtime to use for this container")
	fs.StringVar(&f.shmSize, "shm-size", "", "size of /dev/shm")
	fs.StringVarP(&f.memory, "memory", "m", "", "memory limit")
	fs.StringVar(&f.memorySwap, "memory-swap", "", "swap limit equal to memory plus swap: '-1' to enable unlimited swap")
	fs.StringVar(&f.memoryReservation, "memory-reservation", "", "memory soft limit")
	fs.StringVar(&f.cpus, "cpus", "", "number of CPUs")
	fs.Int64VarP(&f.cpuShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	fs.StringVar(&f.cpusetCpus, "cpuset-cpus", "", "CPUs in which to allow execution (0-3, 0,1)")
	fs.StringVar(&f.cpusetMems, "cpuset-mems", "", "MEMs in which to allow execution (0-3, 0,1)")
	fs.Int64Var(&f.pidsLimit, "pids-limit", 0, "tune container pids limit (set -1 for unlimited)")
	fs.StringArrayVarP(&f.env, "env", "e", nil, "set environment variables")
	fs.StringArrayVar(&f.envFile, "env-file", nil, "read in a file of environment variables")
	fs.StringArrayVarP(&f.labels, "label", "l", nil, "set meta data on a container")
	fs.StringArrayVar(&f.tmpfs, "tmpfs", nil, "mount a tmpfs directory")
	fs.StringArrayVar(&f.capAdd, "cap-add", nil, "add Linux capabilities")
	fs.StringArrayVar(&f.capDrop, "cap-drop", nil, "drop Linux capabilities")
	fs.StringArrayVar(&f.securityOpt, "security-opt", nil, "security options")
	fs.StringArrayVar(&f.ulimits, "ulimit", nil, "ulimit options")
	fs.StringArrayVarP(&f.volumes, "volume", "v", nil, "bind mount a volume")
	fs.StringArrayVar(&f.mounts, "mount", nil, "attach a filesystem mount to the container")
	fs.StringArrayVar(&f.logOpts, "log-opt", nil, "log driver options (max-size, max-file)")
	fs.StringArrayVar(&f.addHosts, "add-host", nil, "add a custom host-to-IP mapping (host:ip)")
	fs.StringArrayVar(&f.dns, "dns", nil, "set custom DNS servers")
	fs.StringArrayVar(&f.dnsSearch, "dns-search", nil, "set custom DNS search domains")
	fs.StringArrayVar(&f.dnsOpts, "dns-option", nil, "set DNS options")
	fs.StringArrayVar(&f.groupAdd, "group-add", nil, "add additional groups to join")
	fs.StringArrayVar(&f.devices, "device", nil, "add a host device to the container")
	fs.StringArrayVar(&f.sysctls, "sysctl", nil, "sysctl options")
	fs.BoolVarP(&f.interactive, "interactive", "i", false, "keep STDIN open even if not attached")
	fs.BoolVarP(&f.tty, "tty", "t", false, "allocate a pseudo-TTY")
	fs.BoolVar(&f.readOnly, "read-only", false, "mount the container's root filesystem as read only")
	fs.BoolVar(&f.privileged, "privileged", false, "give extended privileges to this container")
	fs.BoolVar(&f.init, "init", false, "run an init inside the container that forwards signals and reaps processes")
	fs.BoolVar(&f.rm, "rm", false, "automatically remove the container when it exits")
	if run {
		fs.BoolVarP(&f.detach, "detach", "d", false, "run container in background and print container ID")
	}
}

func parseSize(flag, v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	if v == "-1" {
		return -1, nil
	}
	n, err := units.RAMInBytes(v)
	if err != nil {
		return 0, errdefs.InvalidArgument("invalid argument %q for \"--%s\" flag: %v", v, flag, err)
	}
	return n, nil
}

// request builds the create body from the flags.
func (f *runFlags) request(image string, args []string) (map[string]any, error) {
	env := []string{}
	for _, file := range f.envFile {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		for sc.Scan() {
			l := strings.TrimSpace(sc.Text())
			if l == "" || strings.HasPrefix(l, "#") {
				continue
			}
			env = append(env, expandEnv(l))
		}
	}
	for _, e := range f.env {
		env = append(env, expandEnv(e))
	}
	labels := map[string]string{}
	for _, l := range f.labels {
		k, v, _ := strings.Cut(l, "=")
		labels[k] = v
	}
	tmpfs := map[string]string{}
	for _, t := range f.tmpfs {
		p, o, _ := strings.Cut(t, ":")
		tmpfs[p] = o
	}
	secOpts := make([]string, 0, len(f.securityOpt))
	for _, o := range f.securityOpt {
		// The daemon takes the profile itself, not a path (as docker).
		if v, ok := strings.CutPrefix(o, "seccomp="); ok && v != "unconfined" && v != "builtin" && !strings.HasPrefix(v, "{") {
			b, err := os.ReadFile(v)
			if err != nil {
				return nil, fmt.Errorf("opening seccomp profile (%s) failed: %v", v, err)
			}
			o = "seccomp=" + string(b)
		}
		secOpts = append(secOpts, o)
	}
	cfg := map[string]any{
		"Image": image, "Env": env, "Labels": labels, "Tty": f.tty, "OpenStdin": f.interactive,
		"AttachStdin": f.interactive && !f.detach, "AttachStdout": !f.detach, "AttachStderr": !f.detach,
		"StdinOnce": f.interactive && !f.detach, "Hostname": f.hostname, "WorkingDir": f.workdir, "User": f.user,
	}
	if len(args) > 0 {
		cfg["Cmd"] = args
	}
	if f.entrypoint != "" {
		cfg["Entrypoint"] = []string{f.entrypoint}
	}
	if f.stopSignal != "" {
		cfg["StopSignal"] = f.stopSignal
	}
	if f.stopTimeout >= 0 {
		cfg["StopTimeout"] = f.stopTimeout
	}
	host := map[string]any{
		"AutoRemove": f.rm, "ReadonlyRootfs": f.readOnly, "Privileged": f.privileged, "Tmpfs": tmpfs,
		"CapAdd": f.capAdd, "CapDrop": f.capDrop, "SecurityOpt": secOpts, "Binds": f.volumes,
		"NetworkMode": f.network, "ExtraHosts": f.addHosts, "Dns": f.dns, "DnsSearch": f.dnsSearch, "DnsOptions": f.dnsOpts,
		"GroupAdd": f.groupAdd, "CpuShares": f.cpuShares, "CpusetCpus": f.cpusetCpus, "CpusetMems": f.cpusetMems, "Runtime": f.runtime,
	}
	if f.init {
		host["Init"] = true
	}
	if f.pidsLimit != 0 {
		host["PidsLimit"] = f.pidsLimit
	}
	for flag, v := range map[string]string{"memory": f.memory, "memory-swap": f.memorySwap, "memory-reservation": f.memoryReservation, "shm-size": f.shmSize} {
		n, err := parseSize(flag, v)
		if err != nil {
			return nil, err
		}
		if n != 0 {
			host[map[string]string{"memory": "Memory", "memory-swap": "MemorySwap", "memory-reservation": "MemoryReservation", "shm-size": "ShmSize"}[flag]] = n
		}
	}
	if f.cpus != "" {
		c, err := strconv.ParseFloat(f.cpus, 64)
		if err != nil || c < 0 {
			return nil, errdefs.InvalidArgument("invalid argument %q for \"--cpus\" flag", f.cpus)
		}
		host["NanoCpus"] = int64(c * 1e9)
	}
	name, retries, _ := strings.Cut(f.restart, ":")
	rp := map[string]any{"Name": name}
	if retries != "" {
		n, err := strconv.Atoi(retries)
		if err != nil {
			return nil, errdefs.InvalidArgument("invalid restart policy format: maximum retry count must be an integer")
		}
		rp["MaximumRetryCount"] = n
	}
	host["RestartPolicy"] = rp
	var ulimits []map[string]any
	for _, u := range f.ulimits {
		n, v, ok := strings.Cut(u, "=")
		soft, hard, hasHard := strings.Cut(v, ":")
		s, err1 := strconv.ParseInt(soft, 10, 64)
		h := s
		var err2 error
		if hasHard {
			h, err2 = strconv.ParseInt(hard, 10, 64)
		}
		if !ok || err1 != nil || err2 != nil {
			return nil, errdefs.InvalidArgument("invalid ulimit argument: %s", u)
		}
		ulimits = append(ulimits, map[string]any{"Name": n, "Soft": s, "Hard": h})
	}
	host["Ulimits"] = ulimits
	if len(f.logOpts) > 0 {
		lc := map[string]string{}
		for _, o := range f.logOpts {
			k, v, _ := strings.Cut(o, "=")
			lc[k] = v
		}
		host["LogConfig"] = map[string]any{"Type": "json-file", "Config": lc}
	}
	var devices []map[string]string
	for _, d := range f.devices {
		parts := strings.Split(d, ":")
		dm := map[string]string{"PathOnHost": parts[0], "PathInContainer": parts[0], "CgroupPermissions": "rwm"}
		if len(parts) > 1 {
			dm["PathInContainer"] = parts[1]
		}
		if len(parts) > 2 {
			dm["CgroupPermissions"] = parts[2]
		}
		devices = append(devices, dm)
	}
	host["Devices"] = devices
	sysctls := map[string]string{}
	for _, s := range f.sysctls {
		k, v, _ := strings.Cut(s, "=")
		sysctls[k] = v
	}
	host["Sysctls"] = sysctls
	var mounts []map[string]any
	for _, m := range f.mounts {
		mm, err := parseMountFlag(m)
		if err != nil {
			return nil, err
		}
		mounts = append(mounts, mm)
	}
	host["Mounts"] = mounts
	exposed, bindings, err := parsePublish(f.publish, f.expose)
	if err != nil {
		return nil, err
	}
	if len(exposed) > 0 {
		cfg["ExposedPorts"] = exposed
	}
	host["PortBindings"] = bindings
	host["PublishAllPorts"] = f.publishAll
	if len(f.aliases) > 0 || f.ip != "" || f.ip6 != "" || f.mac != "" {
		ep := map[string]any{"Aliases": f.aliases}
		if f.ip != "" || f.ip6 != "" {
			ep["IPAMConfig"] = map[string]string{"IPv4Address": f.ip, "IPv6Address": f.ip6}
		}
		if f.mac != "" {
			if _, err := net.ParseMAC(f.mac); err != nil {
				return nil, errdefs.InvalidArgument("invalid MAC address %q", f.mac)
			}
			ep["MacAddress"] = f.mac
		}
		netName := f.network
		if netName == "" || netName == "default" {
			netName = "bridge"
		}
		cfg["NetworkingConfig"] = map[string]any{"EndpointsConfig": map[string]any{netName: ep}}
	}
	cfg["HostConfig"] = host
	return cfg, nil
}

// expandEnv turns "VAR" (no value) into VAR=<the CLI's value>, as docker does.
func expandEnv(e string) string {
	if strings.Contains(e, "=") {
		return e
	}
	if v, ok := os.LookupEnv(e); ok {
		return e + "=" + v
	}
	return e
}

// parseMountFlag reads --mount type=bind,source=/a,target=/b,readonly.
func parseMountFlag(s string) (map[string]any, error) {
	m := map[string]any{"Type": "volume"}
	for _, kv := range strings.Split(s, ",") {
		k, v, hasV := strings.Cut(kv, "=")
		switch strings.ToLower(k) {
		case "type":
			m["Type"] = v
		case "source", "src":
			m["Source"] = v
		case "target", "destination", "dst":
			m["Target"] = v
		case "readonly", "ro":
			m["ReadOnly"] = !hasV || v == "true" || v == "1"
		case "bind-propagation":
			m["BindOptions"] = map[string]string{"Propagation": v}
		case "tmpfs-size":
			n, err := units.RAMInBytes(v)
			if err != nil {
				return nil, errdefs.InvalidArgument("invalid tmpfs-size %q", v)
			}
			m["TmpfsOptions"] = map[string]any{"SizeBytes": n}
		default:
			return nil, errdefs.InvalidArgument("invalid field '%s' must be a key=value pair", kv)
		}
	}
	return m, nil
}

// create posts the container, pulling the image first when missing (as
// docker run does) or as --pull says.
func (c *cli) create(cmd *cobra.Command, f *runFlags, image string, args []string) (string, error) {
	ctx := cmd.Context()
	body, err := f.request(image, args)
	if err != nil {
		return "", err
	}
	pull := func() error {
		ref, err := parseImageRefLatest(image)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "Unable to find image '%s' locally\n", ref.Familiar())
		q := url.Values{"fromImage": {ref.Repository()}}
		if ref.Digest != "" {
			q.Set("tag", ref.Digest)
		} else {
			q.Set("tag", ref.Tag)
		}
		if f.platform != "" {
			q.Set("platform", f.platform)
		}
		hdr := header{}
		if cfg, err := loadDockerConfig(c.config); err == nil {
			if a := cfg.registryAuthHeader(ref.Domain); a != "" {
				hdr.Set("X-Registry-Auth", a)
			}
		}
		resp, err := c.api.do(ctx, "POST", "/images/create", q, nil, hdr)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		return renderStream(resp.Body, os.Stderr, false)
	}
	if f.pull == "always" {
		if err := pull(); err != nil {
			return "", err
		}
	}
	q := url.Values{}
	if f.name != "" {
		q.Set("name", f.name)
	}
	var out struct {
		ID       string `json:"Id"`
		Warnings []string
	}
	err = c.api.postJSON(ctx, "/containers/create", q, body, &out)
	if errdefs.IsNotFound(err) && strings.Contains(err.Error(), "No such image") && f.pull != "never" {
		if err := pull(); err != nil {
			return "", err
		}
		err = c.api.postJSON(ctx, "/containers/create", q, body, &out)
	}
	if err != nil {
		return "", err
	}
	for _, w := range out.Warnings {
		fmt.Fprintln(os.Stderr, "WARNING:", w)
	}
	return out.ID, nil
}

func (c *cli) createCmd() *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create a new container",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := c.create(cmd, f, args[0], args[1:])
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), id)
			return nil
		},
	}
	cmd.Flags().SetInterspersed(false)
	f.add(cmd.Flags(), false)
	return cmd
}

func (c *cli) runCmd() *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create and run a new container from an image",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := c.create(cmd, f, args[0], args[1:])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if f.detach {
				if err := c.api.postJSON(ctx, "/containers/"+id+"/start", nil, nil, nil); err != nil {
					return runStartError(err)
				}
				fmt.Fprintln(cmd.OutOrStdout(), id)
				return nil
			}
			return c.runAttached(ctx, id, f.tty, f.interactive, f.rm)
		},
	}
	cmd.Flags().SetInterspersed(false)
	f.add(cmd.Flags(), true)
	return cmd
}

// runStartError reports a failed start as docker run does: the message,
// and exit status 127 (command not found), 126 (not executable) or 125.
func runStartError(err error) error {
	fmt.Fprintln(os.Stderr, "Error:", err)
	code := errdefs.StartExitCode(err.Error())
	if code == 128 {
		code = 125
	}
	return exitError{code}
}

// runAttached is docker run in the foreground: attach, wait, start, then
// stream until the container ends; the exit status is the container's.
func (c *cli) runAttached(ctx context.Context, id string, tty, stdin, autoRemove bool) error {
	q := url.Values{"stream": {"1"}, "stdout": {"1"}, "stderr": {"1"}}
	if stdin {
		q.Set("stdin", "1")
	}
	cond := "next-exit"
	if autoRemove {
		cond = "removed"
	}
	rawTTY := tty && term.IsTerminal(int(os.Stdin.Fd()))
	if !rawTTY {
		// Forward signals to the container, as docker run --sig-proxy
		// does. Registered on a goroutine of its own, and never stopped:
		// each signal's (un)registration is a round trip to the runtime's
		// signal thread, and signal.Stop's six of them were ~0.6 ms
		// between the container's exit status and the CLI's exit (traced);
		// the CLI exits when this returns.
		go func() {
			sigs := make(chan os.Signal, 4)
			signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
			for s := range sigs {
				c.api.postJSON(context.Background(), "/containers/"+id+"/kill", url.Values{"signal": {strconv.Itoa(int(s.(syscall.Signal)))}}, nil, nil)
			}
		}()
	}
	// The wait is registered while the attachment is made (both before
	// the start, neither needs the other): one round trip less.
	type waited struct {
		resp *response
		err  error
	}
	waitc := make(chan waited, 1)
	go func() {
		resp, err := c.api.do(withOwnConn(ctx), "POST", "/containers/"+id+"/wait", url.Values{"condition": {cond}}, nil, nil)
		waitc <- waited{resp, err}
	}()
	conn, stream, err := c.api.hijack(ctx, "/containers/"+id+"/attach", q, "")
	w := <-waitc
	if w.resp != nil {
		defer w.resp.Body.Close()
	}
	if err != nil {
		return err
	}
	defer conn.Close()
	if w.err != nil {
		return w.err
	}
	waitResp := w.resp
	if err := c.api.postJSON(ctx, "/containers/"+id+"/start", nil, nil, nil); err != nil {
		return runStartError(err)
	}
	var restore func()
	if rawTTY {
		if st, err := term.MakeRaw(int(os.Stdin.Fd())); err == nil {
			restore = func() { term.Restore(int(os.Stdin.Fd()), st) }
			defer restore()
		}
		c.resizeLoop(ctx, "/containers/"+id+"/resize")
	}
	if stdin {
		go forwardStdin(conn)
	}
	if tty {
		io.Copy(os.Stdout, stream)
	} else {
		demux(stream, os.Stdout, os.Stderr)
	}
	var res struct {
		StatusCode int
		Error      *struct{ Message string }
	}
	if err := json.NewDecoder(waitResp.Body).Decode(&res); err != nil {
		return fmt.Errorf("waiting for the container: %v", err)
	}
	if restore != nil {
		restore()
	}
	if res.Error != nil && res.Error.Message != "" && res.StatusCode == 0 {
		return errors.New(res.Error.Message)
	}
	if res.StatusCode != 0 {
		return exitError{code: res.StatusCode}
	}
	return nil
}

// resizeLoop keeps the container's tty the size of ours.
func (c *cli) resizeLoop(ctx context.Context, path string) {
	resize := func() {
		w, h, err := term.GetSize(int(os.Stdout.Fd()))
		if err == nil {
			c.api.postJSON(context.Background(), path, url.Values{"h": {strconv.Itoa(h)}, "w": {strconv.Itoa(w)}}, nil, nil)
		}
	}
	resize()
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGWINCH)
	go func() {
		for {
			select {
			case <-ch:
				resize()
			case <-ctx.Done():
				signal.Stop(ch)
				return
			}
		}
	}()
}

// parsePublish reads -p specs ([ip:][hostPort:]containerPort[/proto], with
// equal-length port ranges, or a host range for one container port) and
// --expose, into Docker's ExposedPorts and PortBindings.
func parsePublish(publish, expose []string) (map[string]struct{}, map[string][]map[string]string, error) {
	exposed := map[string]struct{}{}
	bindings := map[string][]map[string]string{}
	for _, e := range expose {
		port, proto, err := splitProto(e)
		if err != nil {
			return nil, nil, err
		}
		lo, hi, err := portRange(port)
		if err != nil {
			return nil, nil, errdefs.InvalidArgument("invalid range format for --expose: %s", e)
		}
		for p := lo; p <= hi; p++ {
			exposed[fmt.Sprintf("%d/%s", p, proto)] = struct{}{}
		}
	}
	for _, spec := range publish {
		rest, proto, err := splitProto(spec)
		if err != nil {
			return nil, nil, err
		}
		var ip, hostPart, ctrPart string
		// [::1]:8080:80 — a bracketed IPv6 host address.
		if strings.HasPrefix(rest, "[") {
			end := strings.Index(rest, "]")
			if end < 0 || len(rest) <= end+1 || rest[end+1] != ':' {
				return nil, nil, errdefs.InvalidArgument("invalid port format for --publish: %s", spec)
			}
			ip, rest = rest[1:end], rest[end+2:]
		}
		parts := strings.Split(rest, ":")
		switch {
		case len(parts) == 1:
			ctrPart = parts[0]
		case len(parts) == 2:
			hostPart, ctrPart = parts[0], parts[1]
		case len(parts) == 3 && ip == "":
			ip, hostPart, ctrPart = parts[0], parts[1], parts[2]
		default:
			return nil, nil, errdefs.InvalidArgument("invalid port format for --publish: %s", spec)
		}
		if ip != "" {
			if a, err := netip.ParseAddr(ip); err != nil {
				return nil, nil, errdefs.InvalidArgument("invalid IP address %q in --publish %s", ip, spec)
			} else {
				ip = a.String()
			}
		}
		clo, chi, err := portRange(ctrPart)
		if err != nil {
			return nil, nil, errdefs.InvalidArgument("invalid containerPort: %s", ctrPart)
		}
		hlo, hhi := 0, 0
		if hostPart != "" {
			if hlo, hhi, err = portRange(hostPart); err != nil {
				return nil, nil, errdefs.InvalidArgument("invalid hostPort: %s", hostPart)
			}
			// A host range for one container port: the daemon takes
			// the first free port of it.
			if chi == clo && hhi != hlo {
				key := fmt.Sprintf("%d/%s", clo, proto)
				exposed[key] = struct{}{}
				bindings[key] = append(bindings[key], map[string]string{"HostIp": ip, "HostPort": fmt.Sprintf("%d-%d", hlo, hhi)})
				continue
			}
			if hhi-hlo != chi-clo {
				return nil, nil, errdefs.InvalidArgument("invalid ranges specified for container and host Ports: %s and %s", ctrPart, hostPart)
			}
		}
		for i := 0; i <= chi-clo; i++ {
			key := fmt.Sprintf("%d/%s", clo+i, proto)
			exposed[key] = struct{}{}
			hp := ""
			if hostPart != "" {
				hp = strconv.Itoa(hlo + i)
			}
			bindings[key] = append(bindings[key], map[string]string{"HostIp": ip, "HostPort": hp})
		}
	}
	return exposed, bindings, nil
}

func splitProto(s string) (string, string, error) {
	port, proto, ok := strings.Cut(s, "/")
	if !ok {
		return port, "tcp", nil
	}
	switch proto = strings.ToLower(proto); proto {
	case "tcp", "udp", "sctp":
		return port, proto, nil
	}
	return "", "", errdefs.InvalidArgument("invalid proto: %s", proto)
}

// portRange reads "80" or "8000-8010".
func portRange(s string) (int, int, error) {
	lo, hi, isRange := strings.Cut(s, "-")
	a, err := strconv.Atoi(lo)
	if err != nil || a < 0 || a > 65535 {
		return 0, 0, fmt.Errorf("bad port %q", s)
	}
	b := a
	if isRange {
		if b, err = strconv.Atoi(hi); err != nil || b < a || b > 65535 {
			return 0, 0, fmt.Errorf("bad port range %q", s)
		}
	}
	if a == 0 && !isRange {
		return 0, 0, fmt.Errorf("bad port %q", s)
	}
	return a, b, nil
}
