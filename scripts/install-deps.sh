#!/usr/bin/env bash
# Installs the Debian packages Berth builds and tests against. Idempotent:
# packages already present are skipped, so repeated CI runs stay fast.
set -euo pipefail

# Build: cgo seccomp for berth-oci. Run: the CNI plugins, iptables and
# iproute2 for container networks. Tests: busybox-static test images,
# runc/crun as peers, jq for scripts, util-linux's nsenter. Bench:
# hyperfine. Drop-in checks: podman, containerd.
pkgs=(libseccomp-dev pkg-config busybox-static jq runc crun hyperfine time curl
	containernetworking-plugins iptables iproute2 util-linux)
if [[ "${BERTH_DEPS_FULL:-0}" == 1 ]]; then
	pkgs+=(podman containerd skopeo umoci docker-registry docker.io)
fi

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# Daemons shipped by these packages must not start on install: tests start what they need.
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
	rm -f /usr/sbin/policy-rc.d
fi
