#!/usr/bin/env bash
# Drop-in check: Debian's podman runs a container with berth-oci as its OCI
# runtime (`podman --runtime`). Uses a private podman root so it touches
# nothing else. Prints "ok" from inside the container.
set -euo pipefail
here=$(dirname "$0")
. "$here/lib.sh"
real_rt=${BERTH_OCI:-$(command -v berth-oci)}
work=$(mktemp -d /tmp/berth-podman.XXXXXX)
trap 'podman "${common[@]}" rm -af >/dev/null 2>&1 || true; umount -R "$work" 2>/dev/null || true; rm -rf "$work"' EXIT
rt=$(logging_wrapper "$real_rt" "$work")
common=(--root "$work/root" --runroot "$work/run" --cgroup-manager cgroupfs --events-backend file
	--runtime "$rt")
busybox_rootfs_tar "$work/rootfs.tar"
podman "${common[@]}" import -q "$work/rootfs.tar" localhost/berth-busybox:latest >/dev/null
# This VM's root lacks CAP_SYS_RESOURCE: podman's default ulimits would fail (MACHINE.md).
out=$(podman "${common[@]}" run --rm --network none \
	--ulimit nofile=20000:20000 --ulimit nproc=32768:32768 \
	localhost/berth-busybox:latest echo ok)
echo "$out"
[[ $out == ok ]]
check_calls "$work"
