#!/usr/bin/env bash
# The reference peer for the CRI benchmarks: containerd 1.6 from Debian with its CRI plugin,
# set up as /work/shared/CONFORMANCE.md section A describes.
#
#   scripts/cri-conformance/containerd.sh [start]   # (re)write the config, wipe, start
#   scripts/cri-conformance/containerd.sh stop      # stop it (and what it started)
#   scripts/cri-conformance/containerd.sh status    # exit 0 if it runs
#
# start writes /etc/conf-containerd/config.toml (version 2), one hosts.toml per upstream
# registry under /etc/conf-containerd/certs.d (all → the plain-http registry of
# build-images.sh on 127.0.0.1:5001), the CNI conflist /etc/conf-cni/net.d/10-confcni.conflist
# (bridge confcni0 10.77.0.0/16 + host-local + portmap), stops a previous instance, wipes
# root /var/lib/conf-containerd and state /run/conf-containerd, and starts containerd in
# the background (pid and log: /run/conf-containerd/containerd.{pid,log}) and waits until
# the CRI answers on /run/conf-containerd/containerd.sock. Running it again restarts from
# scratch (the log of the previous run goes with the wipe).
set -uo pipefail

root=/var/lib/conf-containerd
state=/run/conf-containerd
sock=$state/containerd.sock
pidfile=$state/containerd.pid
logfile=$state/containerd.log
etc=/etc/conf-containerd
cfg=$etc/config.toml
certsd=$etc/certs.d
cnidir=/etc/conf-cni/net.d
cnibin=/usr/lib/cni
mirror=http://${CONF_REGISTRY_ADDR:-127.0.0.1:5001}
containerd=${CONTAINERD:-/usr/bin/containerd}
crictl=${CRICTL:-/opt/cri-tools/bin/crictl}

die() {
	echo "containerd.sh: $*" >&2
	exit 2
}

daemon_pid() {
	local pid
	[[ -f $pidfile ]] || return 1
	pid=$(<"$pidfile")
	[[ $pid =~ ^[0-9]+$ && -e /proc/$pid ]] || return 1
	[[ $(readlink "/proc/$pid/exe" 2>/dev/null) == */containerd* ]] || return 1
	echo "$pid"
}

unmount_under() {
	local m
	awk -v d="$1" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo |
		sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
}

# Shims and containers this instance started: their command lines name our state dir,
# root dir or socket (containerd-shim-runc-v2 -address /run/conf-containerd/...).
kill_leftovers() {
	local p cmd n=0
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		[[ $p == "$$" ]] && continue
		cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline") || continue
		if [[ $cmd == *" $root/"* || $cmd == *" $state/"* || $cmd == *" $state "* || $cmd == *"=$root/"* || $cmd == *"=$state/"* ]]; then
			kill -KILL "$p" 2>/dev/null && n=$((n + 1))
		fi
	done
	((n == 0)) || echo "==> ended $n processes left under $root or $state"
}

stop() {
	local pid
	if pid=$(daemon_pid); then
		kill -TERM "$pid" 2>/dev/null
		for _ in $(seq 1 100); do
			[[ -e /proc/$pid ]] || break
			sleep 0.2
		done
		if [[ -e /proc/$pid ]]; then
			echo "containerd.sh: containerd (pid $pid) ignored SIGTERM for 20 s; killing it" >&2
			kill -KILL "$pid" 2>/dev/null
			sleep 0.5
		fi
	fi
	rm -f "$pidfile"
	kill_leftovers
	unmount_under "$state"
	unmount_under "$root"
}

write_config() {
	local h server
	mkdir -p "$etc" "$cnidir" || die "cannot create $etc or $cnidir"
	cat >"$cfg" <<EOF
# Written by scripts/cri-conformance/containerd.sh: the containerd 1.6 reference peer.
version = 2
root = "$root"
state = "$state"

[grpc]
  address = "$sock"

[ttrpc]
  address = "$sock.ttrpc"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.6"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "runc"
        Root = "$state/runc"
        SystemdCgroup = false
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.crun]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.crun.options]
        BinaryName = "crun"
        Root = "$state/crun"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$cnibin"
    conf_dir = "$cnidir"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$certsd"

[plugins."io.containerd.internal.v1.opt"]
  path = "$root/opt"
EOF
	rm -rf "$certsd"
	for h in registry.k8s.io gcr.io k8s.gcr.io docker.io quay.io public.ecr.aws ghcr.io; do
		server=https://$h
		[[ $h == docker.io ]] && server=https://registry-1.docker.io
		mkdir -p "$certsd/$h"
		cat >"$certsd/$h/hosts.toml" <<EOF
server = "$server"

[host."$mirror"]
  capabilities = ["pull", "resolve"]
  skip_verify = true
EOF
	done
	cat >"$cnidir/10-confcni.conflist" <<'EOF'
{
  "cniVersion": "0.4.0",
  "name": "confcni",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "confcni0",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "10.77.0.0/16" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    },
    {
      "type": "portmap",
      "capabilities": { "portMappings": true }
    }
  ]
}
EOF
}

start() {
	local pid
	[[ -x $containerd ]] || die "$containerd missing (apt-get install containerd)"
	stop
	rm -rf --one-file-system "$root" "$state" 2>/dev/null
	[[ ! -e $root ]] || die "could not wipe $root"
	write_config
	mkdir -p "$state"
	echo "==> starting $containerd --config $cfg (root $root, state $state, log $logfile)"
	setsid "$containerd" --config "$cfg" </dev/null >"$logfile" 2>&1 &
	pid=$!
	echo "$pid" >"$pidfile"
	for _ in $(seq 1 150); do
		[[ -S $sock ]] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.2
	done
	if [[ ! -S $sock ]]; then
		tail -n 30 "$logfile" >&2
		die "containerd did not create $sock (log $logfile)"
	fi
	# The socket exists before the CRI plugin is ready; wait for it to answer.
	if [[ -x $crictl ]]; then
		for _ in $(seq 1 100); do
			"$crictl" --runtime-endpoint "unix://$sock" --image-endpoint "unix://$sock" --timeout 2s \
				info >/dev/null 2>&1 && break
			sleep 0.3
		done
		if ! "$crictl" --runtime-endpoint "unix://$sock" --timeout 2s version 2>&1 |
			grep -v 'level=warning msg="Config' | sed 's/^/    /'; then
			tail -n 30 "$logfile" >&2
			die "containerd's CRI does not answer on $sock (log $logfile)"
		fi
	fi
	echo "==> containerd running (pid $pid, socket $sock)"
}

case ${1:-start} in
start) start ;;
stop) stop; echo "==> containerd stopped" ;;
status) daemon_pid >/dev/null ;;
-h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' ;;
*) die "usage: $0 [start|stop|status]" ;;
esac
