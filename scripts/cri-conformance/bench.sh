#!/usr/bin/env bash
# CRI latency benchmark: `critest -benchmark` (v1.34.0) against a private berthd, then
# against the containerd 1.6 reference peer (containerd.sh), in one invocation, and one
# table of the per-operation medians (issue 6: "each p50 ≤ 0.5× containerd's").
#
#   scripts/cri-conformance/bench.sh [--berthd PATH] [--results DIR] [--pods N]
#       [--containers N] [--images N] [--parallel P] [--only berth|containerd]
#
#   --berthd      the daemon (default: $BERTHD, else <repo>/bin/berthd); started by run.sh
#                 exactly as for the conformance run
#   --results     where everything goes (default /tmp/cri-bench): params.yaml, and per
#                 engine berth/ and containerd/ with critest.log, critest.json (ginkgo's
#                 report) and bench/*.json (critest's benchmark data); table.txt
#   --pods, --containers, --images
#                 samples of the pod, container and image lifecycles (default 20, 20, 10)
#   --parallel    how many lifecycles critest runs at once (default 1: latencies, not
#                 throughput)
#   --only        run one engine only (the table then shows "-" for the other)
#
# Builds nothing: critest/crictl (build-tools.sh), the registry on 127.0.0.1:5001
# (build-images.sh) and bin/berthd must exist (make bench-cri sees to that). The engines
# run one after the other (critest cannot interleave them), so load that changes between
# the two halves skews the ratios; on a shared machine repeat before trusting a number.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
berthd=${BERTHD:-$repo_root/bin/berthd}
results=/tmp/cri-bench
pods=20
containers=20
images=10
parallel=1
only=
critest=${CRITEST:-/opt/cri-tools/bin/critest}
ctr_sock=/run/conf-containerd/containerd.sock
timeout_s=1200

usage() {
	sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
	exit "${1:-2}"
}
die() {
	echo "bench.sh: $*" >&2
	exit 2
}
posint() { [[ $2 =~ ^[1-9][0-9]*$ ]] || die "$1 wants a positive number, not '$2'"; }

while (($#)); do
	case $1 in
	--berthd) berthd=${2:?}; shift 2 ;;
	--berthd=*) berthd=${1#*=}; shift ;;
	--results) results=${2:?}; shift 2 ;;
	--results=*) results=${1#*=}; shift ;;
	--pods) pods=${2:?}; shift 2 ;;
	--pods=*) pods=${1#*=}; shift ;;
	--containers) containers=${2:?}; shift 2 ;;
	--containers=*) containers=${1#*=}; shift ;;
	--images) images=${2:?}; shift 2 ;;
	--images=*) images=${1#*=}; shift ;;
	--parallel) parallel=${2:?}; shift 2 ;;
	--parallel=*) parallel=${1#*=}; shift ;;
	--only) only=${2:?}; shift 2 ;;
	--only=*) only=${1#*=}; shift ;;
	-h | --help) usage 0 ;;
	*) echo "bench.sh: unknown argument: $1" >&2; usage ;;
	esac
done
posint --pods "$pods"
posint --containers "$containers"
posint --images "$images"
posint --parallel "$parallel"
[[ -z $only || $only == berth || $only == containerd ]] || die "--only wants berth or containerd"
[[ -x $critest ]] || die "$critest missing (scripts/cri-conformance/build-tools.sh)"
command -v jq >/dev/null || die "jq not found"
mkdir -p "$results" || die "cannot create $results"
results=$(realpath "$results")

# Every benchmark is off unless its count is set. The timeouts are generous: this is
# about the medians, not about critest's pass/fail limits (pod+container start: 5 s).
params=$results/params.yaml
cat >"$params" <<EOF
# Written by scripts/cri-conformance/bench.sh
podsNumber: $pods
podsNumberParallel: $parallel
podBenchmarkTimeoutSeconds: 120
containersNumber: $containers
containersNumberParallel: $parallel
containerBenchmarkTimeoutSeconds: 120
imagesNumber: $images
imagesNumberParallel: $parallel
imageBenchmarkTimeoutSeconds: 120
podContainerStartBenchmarkTimeoutSeconds: 30
EOF

bench_args() { # DIR
	echo "-benchmarking-params-file=$params"
	echo "-benchmarking-output-dir=$1/bench"
}

# ---- berthd, started and stopped by run.sh -----------------------------------------------
run_berth() {
	local d=$results/berth
	rm -rf "$d"
	mkdir -p "$d/bench"
	echo "==> [1/2] critest -benchmark against berthd ($berthd)"
	mapfile -t a < <(bench_args "$d")
	BERTHD=$berthd "$here/run.sh" --results "$d" --timeout "$timeout_s" --benchmark -- "${a[@]}" ||
		echo "bench.sh: run.sh failed (status $?); see $d" >&2
}

# ---- containerd, started and stopped with containerd.sh ----------------------------------
run_containerd() {
	local d=$results/containerd rc t0 ep=unix://$ctr_sock
	rm -rf "$d"
	mkdir -p "$d/bench"
	echo "==> [2/2] critest -benchmark against containerd 1.6 ($(containerd --version 2>/dev/null | awk '{print $3}'))"
	if ! "$here/containerd.sh" start; then
		echo "bench.sh: containerd did not come up; no containerd column" >&2
		return 0
	fi
	mapfile -t a < <(bench_args "$d")
	echo "    full output: $d/critest.log"
	t0=$SECONDS
	(cd "$d" && timeout -k 10 $((timeout_s + 120)) "$critest" --runtime-endpoint "$ep" --image-endpoint "$ep" \
		-ginkgo.no-color -ginkgo.timeout="${timeout_s}s" -ginkgo.json-report="$d/critest.json" \
		-benchmark "${a[@]}") >"$d/critest.log" 2>&1
	rc=$?
	echo "    exit $rc, wall $((SECONDS - t0)) s"
	[[ -s $d/critest.json ]] && jq -r '[.[].SpecReports[]? | select(.LeafNodeType == "It")] as $s |
		def n(st): $s | map(select(.State == st)) | length;
		"    specs \($s | length): passed \(n("passed")), failed \($s | map(select(.State != "passed" and .State != "skipped" and .State != "pending")) | length), skipped \(n("skipped"))"' "$d/critest.json"
	failures "$d"
	cp "$(dirname "$ctr_sock")/containerd.log" "$d/containerd.log" 2>/dev/null
	"$here/containerd.sh" stop >/dev/null
}

# failures DIR: the specs that failed and their first message lines (ginkgo JSON report).
failures() {
	[[ -s $1/critest.json ]] || return 0
	jq -r '.[].SpecReports[]? | select(.LeafNodeType == "It" and (.State == "failed" or .State == "panicked" or .State == "timedout" or .State == "interrupted")) |
		"    FAILED: \((.ContainerHierarchyTexts // []) + [.LeafNodeText] | join(" "))\n      " +
		((.Failure.Message // "") | split("\n") | map(select(test("\\S"))) | .[0:4] | join("\n      "))' "$1/critest.json"
}

[[ $only == containerd ]] || run_berth
[[ $only == berth ]] || run_containerd
[[ $only == containerd ]] || { echo "==> berth failures:"; f=$(failures "$results/berth"); echo "${f:-    (none)}"; }

# ---- the table ---------------------------------------------------------------------------
# medians DIR prints "operation<TAB>p50-ms<TAB>samples" for every operation of every
# lifecycle data file critest wrote, plus the pod+container start gmeasure experiment from
# the ginkgo report.
medians() {
	local f
	for f in pod_benchmark_data container_benchmark_data image_lifecycle_benchmark_data image_listing_benchmark_data; do
		[[ -s $1/bench/$f.json ]] || continue
		jq -r --arg f "$f" '
			def median: sort | length as $n | if $n == 0 then null
				elif $n % 2 == 1 then .[($n - 1) / 2] else (.[$n / 2 - 1] + .[$n / 2]) / 2 end;
			.operationsNames as $ops | .datapoints as $dp |
			range(0; $ops | length) as $i |
			($dp | map(.operationsDurationsNs[$i]) | map(select(. != null and . > 0))) as $d |
			"\($ops[$i])\t\(($d | median // -1e6) / 1e6)\t\($d | length)"' "$1/bench/$f.json"
	done
	[[ -s $1/critest.json ]] || return 0
	jq -r '
		def median: sort | length as $n | if $n == 0 then null
			elif $n % 2 == 1 then .[($n - 1) / 2] else (.[$n / 2 - 1] + .[$n / 2]) / 2 end;
		.[].SpecReports[]? | .ReportEntries[]? | select(.Name == "start-container-benchmark") |
		(.Value.AsJSON | fromjson? // empty) | .Measurements[]? | select((.Durations // []) | length > 0) |
		"PodAndContainerStart\t\((.Durations | median) / 1e6)\t\(.Durations | length)"' "$1/critest.json"
}

medians "$results/berth" >"$results/berth.p50" 2>/dev/null
medians "$results/containerd" >"$results/containerd.p50" 2>/dev/null

{
	echo
	echo "== critest v1.34.0 -benchmark: p50 latency per CRI operation (pods $pods, containers $containers, images $images, parallel $parallel)"
	awk -F'\t' '
		{ file = (FILENAME == ARGV[1]) ? 1 : 2 }
		{ if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 }
		  if (file == 1) { b[$1] = $2; bn[$1] = $3 } else { c[$1] = $2; cn[$1] = $3 } }
		END {
			printf "%-22s %12s %15s %8s %9s\n", "operation", "berth p50 ms", "containerd p50", "ratio", "n (b/c)"
			for (i = 1; i <= n; i++) {
				o = order[i]
				bs = (o in b && b[o] >= 0) ? sprintf("%.2f", b[o]) : "-"
				cs = (o in c && c[o] >= 0) ? sprintf("%.2f", c[o]) : "-"
				r = (bs != "-" && cs != "-" && c[o] > 0) ? sprintf("%.2f", b[o] / c[o]) : "-"
				goal = (r != "-" && r + 0 <= 0.5) ? " ok" : ""
				printf "%-22s %12s %15s %8s %4s/%-4s%s\n", o, bs, cs, r, (o in bn ? bn[o] : "-"), (o in cn ? cn[o] : "-"), goal
			}
		}' "$results/berth.p50" "$results/containerd.p50"
	echo "ratio = berth / containerd; goal (issue 6): ≤ 0.50 (marked ok)."
	echo "Caveat: the engines ran one after the other on a shared, noisy machine (load average"
	echo "at the end: $(cut -d' ' -f1-3 /proc/loadavg)); treat single runs as rough and repeat before trusting a ratio."
} | tee "$results/table.txt"
