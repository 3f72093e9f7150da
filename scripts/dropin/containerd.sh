#!/usr/bin/env bash
# Drop-in check: Debian's containerd, its runc shim (io.containerd.runc.v2)
# configured with BinaryName = berth-oci, runs a container. Uses a private
# root, state dir and socket. Prints "ok" from inside the container.
set -euo pipefail
here=$(dirname "$0")
. "$here/lib.sh"
real_rt=${BERTH_OCI:-$(command -v berth-oci)}
work=$(mktemp -d /tmp/berth-containerd.XXXXXX)
sock=$work/containerd.sock
rt=$(logging_wrapper "$real_rt" "$work")
cat >"$work/config.toml" <<TOML
version = 2
root = "$work/root"
state = "$work/state"
[grpc]
  address = "$sock"
[plugins."io.containerd.grpc.v1.cri"]
  disable_apparmor = true
[plugins."io.containerd.runtime.v1.linux"]
  runtime = "$rt"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  BinaryName = "$rt"
TOML
containerd --config "$work/config.toml" >"$work/containerd.log" 2>&1 &
cpid=$!
cleanup() {
	ctr -a "$sock" task kill -s KILL berth-dropin >/dev/null 2>&1 || true
	ctr -a "$sock" container rm berth-dropin >/dev/null 2>&1 || true
	kill "$cpid" 2>/dev/null || true
	wait "$cpid" 2>/dev/null || true
	umount -R "$work/state" "$work/root" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 100); do [[ -S $sock ]] && break; sleep 0.1; done
busybox_rootfs_tar "$work/rootfs.tar"
# An OCI image from the rootfs, imported without a registry.
python3 - "$work" <<'PY'
import hashlib, json, os, sys, tarfile, io
work = sys.argv[1]
layer = open(os.path.join(work, "rootfs.tar"), "rb").read()
def blob(b):
    d = hashlib.sha256(b).hexdigest()
    os.makedirs(os.path.join(work, "oci/blobs/sha256"), exist_ok=True)
    open(os.path.join(work, "oci/blobs/sha256", d), "wb").write(b)
    return "sha256:" + d, len(b)
ld, ls = blob(layer)
cfg = json.dumps({"architecture": "amd64", "os": "linux",
    "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"]},
    "rootfs": {"type": "layers", "diff_ids": [ld]}}).encode()
cd, cs = blob(cfg)
man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": ls}]}).encode()
md, ms = blob(man)
idx = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
    "digest": md, "size": ms, "annotations": {"org.opencontainers.image.ref.name": "latest",
    "io.containerd.image.name": "localhost/berth-busybox:latest"}}]}
open(os.path.join(work, "oci/index.json"), "w").write(json.dumps(idx))
open(os.path.join(work, "oci/oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
with tarfile.open(os.path.join(work, "image.tar"), "w") as t:
    t.add(os.path.join(work, "oci"), arcname=".")
PY
ctr -a "$sock" image import --all-platforms "$work/image.tar" >/dev/null
out=$(ctr -a "$sock" run --rm --runc-binary "$rt" localhost/berth-busybox:latest berth-dropin echo ok)
echo "$out"
[[ $out == ok ]]
check_calls "$work"
