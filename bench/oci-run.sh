#!/usr/bin/env bash
# Benchmarks `<runtime> run` of a bundle executing /bin/true: berth-oci vs runc vs crun,
# interleaved. All arguments go to bench/ocirun (see `go run ./bench/ocirun -h`), e.g.
#
#   bench/oci-run.sh                      # 100 runs each, table
#   bench/oci-run.sh -n 30 -json > out.json
#   bench/oci-run.sh -runtimes runc=/usr/sbin/runc,crun=/usr/bin/crun
#
# Builds nothing: bin/berth-oci is used if present (make it first), skipped otherwise.
# On a cgroup v1 "hybrid" host (this project's VMs) it binds hugetlb to cgroup v1 first,
# because crun refuses the hybrid layout otherwise (/work/shared/MACHINE.md); set
# BENCH_NO_CRUN_PREP=1 to leave the cgroup layout alone.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

[[ $(id -u) == 0 ]] || { echo "oci-run.sh: must run as root (the runtimes create containers)" >&2; exit 1; }

prepare_crun_hugetlb() {
	# Hybrid = a tmpfs at /sys/fs/cgroup holding v1 hierarchies + cgroup2 at unified/.
	[[ $(stat -f -c %T /sys/fs/cgroup 2>/dev/null) == tmpfs ]] || return 0
	[[ $(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null) == cgroup2fs ]] || return 0
	mountpoint -q /sys/fs/cgroup/hugetlb && return 0
	echo "oci-run.sh: binding hugetlb to cgroup v1 at /sys/fs/cgroup/hugetlb (for crun)" >&2
	# The controller moves only if no cgroup2 group still enables it (berth-oci
	# enables it along a container's path when the spec sets hugepage limits):
	# disable it bottom-up first; groups still using it keep it (write fails).
	find /sys/fs/cgroup/unified -depth -name cgroup.subtree_control 2>/dev/null |
		while read -r f; do grep -qw hugetlb "$f" && echo -hugetlb >"$f" 2>/dev/null; done
	mkdir -p /sys/fs/cgroup/hugetlb
	# The kernel lets go of the controller asynchronously: retry briefly.
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb 2>/dev/null && return 0
		sleep 0.5
	done
	echo "oci-run.sh: warning: hugetlb mount failed; crun will likely refuse to run" >&2
}
[[ ${BENCH_NO_CRUN_PREP:-0} == 1 ]] || prepare_crun_hugetlb

defaults=(-runtimes "berth-oci=$repo_root/bin/berth-oci,runc=/usr/sbin/runc,crun=/usr/bin/crun")
for a in "$@"; do
	case $a in -runtimes | --runtimes | -runtimes=* | --runtimes=*) defaults=() ;; esac
done

exec go run ./bench/ocirun "${defaults[@]}" "$@"
