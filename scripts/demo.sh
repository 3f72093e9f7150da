#!/usr/bin/env bash
# The main job, end to end on a fresh Debian machine as root: install what
# Berth needs, build and install it, run a container from a bundle whose
# rootfs is Debian's busybox-static, then start berthd and move a locally
# built busybox image through it: load, list, push to a registry on
# loopback, remove, pull back, then run a container from it.
set -euo pipefail
cd "$(dirname "$0")/.."

BERTH_DEPS_FULL=1 ./scripts/install-deps.sh
make build
make install

bundle=$(mktemp -d /tmp/berth-demo.XXXXXX)
trap 'rm -rf "$bundle"' EXIT
mkdir -p "$bundle/rootfs/bin" "$bundle/rootfs/etc" "$bundle/rootfs/tmp"
cp /bin/busybox "$bundle/rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do
	[[ $applet == busybox ]] || ln -sf busybox "$bundle/rootfs/bin/$applet"
done
berth-oci spec --bundle "$bundle"
jq '.process.terminal = false
    | .process.args = ["sh", "-c", "echo \"hello from $(hostname): pid $$, uid $(id -u)\"; ls /"]' \
	"$bundle/config.json" >"$bundle/config.json.new"
mv "$bundle/config.json.new" "$bundle/config.json"

id="demo-$$"
echo "+ berth-oci run --bundle $bundle $id"
berth-oci run --bundle "$bundle" "$id"

# berthd: started unless one already answers on the default socket.
if ! berth version >/dev/null 2>&1; then
	echo "+ berthd (log: /var/log/berthd.log)"
	nohup berthd >>/var/log/berthd.log 2>&1 &
	for _ in $(seq 100); do berth version >/dev/null 2>&1 && break; sleep 0.1; done
fi
berth version

work=$(mktemp -d /tmp/berth-demo-img.XXXXXX)
trap 'rm -rf "$bundle" "$work"; [[ -n ${reg_pid:-} ]] && kill "$reg_pid" 2>/dev/null; true' EXIT
echo "+ building demo/busybox:latest from /bin/busybox"
go run ./bench/imagegen -kind busybox -repo demo/busybox -docker-archive "$work/busybox.tar" >/dev/null
berth load -i "$work/busybox.tar"
berth images

# A registry on loopback (Debian docker-registry): push, remove, pull back.
port=5077
cat >"$work/registry.yml" <<EOF2
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $work/registry}}
http: {addr: 127.0.0.1:$port}
EOF2
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
reg_pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
berth tag demo/busybox:latest "127.0.0.1:$port/demo/busybox:1"
berth push "127.0.0.1:$port/demo/busybox:1"
berth rmi "127.0.0.1:$port/demo/busybox:1" demo/busybox:latest
berth pull "127.0.0.1:$port/demo/busybox:1"
berth image inspect --format '{{.Id}} {{json .Config.Cmd}} {{.Os}}/{{.Architecture}}' "127.0.0.1:$port/demo/busybox:1"
berth images

# And run a container from that image through berthd and its shim.
berth run --rm "127.0.0.1:$port/demo/busybox:1" sh -c 'echo "hello from a berth container: $(hostname), $(id)"'
