#!/usr/bin/env bash
# The main job, end to end on a fresh Debian machine as root: install what
# Berth needs, build and install it, then run a container from a bundle
# whose rootfs is Debian's busybox-static.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
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
