#!/usr/bin/env bash
# Runs the CRI conformance suite (critest v1.34.0) against a private berthd and reports
# ginkgo's counts and the failed specs.
#
#   scripts/cri-conformance/run.sh [--berthd PATH] [--results DIR] [--timeout SECS]
#       [--focus REGEX] [--benchmark] [--keep] [-- CRITEST-ARGS...]
#
#   --berthd     the daemon (default: $BERTHD, else <repo>/bin/berthd). Its helpers
#                (berth-shim, berth-oci, berth-oci-init) are found next to it, then in
#                <repo>/bin, then on PATH.
#   --results    where the logs go (default /tmp/cri-conformance): berthd.toml,
#                berthd.log, critest.log (the full output), critest.json (ginkgo's JSON
#                report), summary.txt
#   --timeout    ginkgo's suite timeout in seconds (default 1800); critest is killed
#                120 s after it if it has not stopped by then
#   --focus      run only the specs matching REGEX (-ginkgo.focus)
#   --benchmark  run critest -benchmark instead of the validation specs
#   --keep       leave berthd running afterwards (it is stopped by the next run)
#   CRITEST-ARGS are passed to critest as they are (e.g. -ginkgo.label-filter=...).
#                Note: critest overrides -ginkgo.skip (with "benchmark") and rejects
#                -parallel=1 ("Use of go test -parallel"); -parallel=N>1 needs the
#                ginkgo CLI on PATH.
#
# berthd gets its own everything: config <results>/berthd.toml (every upstream registry
# mirrored to the plain-http registry of build-images.sh on 127.0.0.1:5001, default
# network bridge confberth0 on 10.78.0.0/16), root /var/lib/conf-berth (wiped first),
# state /run/conf-berth, CRI socket /run/conf-berth/cri.sock. See
# /work/shared/CONFORMANCE.md section A. The exit status is 0 whether or not specs fail
# (this is a report); non-zero means the harness itself broke (berthd did not start,
# critest did not run or left no summary).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
berthd=${BERTHD:-$repo_root/bin/berthd}
results=/tmp/cri-conformance
timeout_s=1800
focus=
benchmark=0
keep=0
extra=()

root=/var/lib/conf-berth
state=/run/conf-berth
sock=$state/cri.sock
endpoint=unix://$sock
pidfile=/run/conf-berth.pid
mirror=http://${CONF_REGISTRY_ADDR:-127.0.0.1:5001}
bridge=confberth0
subnet=10.78.0.0/16
critest=${CRITEST:-/opt/cri-tools/bin/critest}
crictl=${CRICTL:-/opt/cri-tools/bin/crictl}

usage() {
	sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
	exit "${1:-2}"
}
die() {
	echo "run.sh: $*" >&2
	exit 2
}

while (($#)); do
	case $1 in
	--berthd) berthd=${2:?--berthd needs a value}; shift 2 ;;
	--berthd=*) berthd=${1#*=}; shift ;;
	--results) results=${2:?--results needs a value}; shift 2 ;;
	--results=*) results=${1#*=}; shift ;;
	--timeout) timeout_s=${2:?--timeout needs a value}; shift 2 ;;
	--timeout=*) timeout_s=${1#*=}; shift ;;
	--focus) focus=${2:?--focus needs a value}; shift 2 ;;
	--focus=*) focus=${1#*=}; shift ;;
	--benchmark) benchmark=1; shift ;;
	--keep) keep=1; shift ;;
	--) shift; extra=("$@"); break ;;
	-h | --help) usage 0 ;;
	*) echo "run.sh: unknown argument: $1" >&2; usage ;;
	esac
done
[[ $timeout_s =~ ^[0-9]+$ ]] || die "--timeout wants whole seconds"
for a in "${extra[@]}"; do
	[[ $a == -parallel=1 || $a == --parallel=1 ]] && die "critest -parallel=1 makes ginkgo abort; leave it out"
done

if [[ $berthd != */* ]]; then
	berthd=$(command -v "$berthd") || die "berthd '$berthd' not found on PATH"
fi
[[ -x $berthd && -f $berthd ]] || die "berthd '$berthd' is not an executable file (make build, or BERTHD=...)"
berthd=$(realpath "$berthd")
[[ -x $critest ]] || die "$critest missing (scripts/cri-conformance/build-tools.sh)"
for cmd in timeout realpath curl awk; do
	command -v "$cmd" >/dev/null || die "$cmd not found"
done
if ! curl -fsS -o /dev/null --max-time 3 "$mirror/v2/"; then
	die "no registry answers on $mirror (scripts/cri-conformance/build-images.sh starts it)"
fi
mkdir -p "$results" || die "cannot create $results"
# The port-mapping, port-forward and host-network specs bind these on the host.
if command -v ss >/dev/null; then
	busy=$(ss -Hltn 2>/dev/null | awk '{ n = split($4, a, ":"); p = a[n]; if (p >= 12000 && p <= 12003) print p }' | sort -u | xargs)
	[[ -z $busy ]] || echo "run.sh: warning: host ports $busy are in use; the specs that need them will fail" >&2
fi

# ---- cleanup of a previous run ---------------------------------------------------------
# unmount_under DIR lazily unmounts every mount at or below DIR, deepest first (overlay
# rootfs, pinned namespaces, ...).
unmount_under() {
	local m
	awk -v d="$1" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo |
		sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
}

daemon_pid() {
	local pid
	[[ -f $pidfile ]] || return 1
	pid=$(<"$pidfile")
	[[ $pid =~ ^[0-9]+$ && -e /proc/$pid ]] || return 1
	[[ $(readlink "/proc/$pid/exe" 2>/dev/null) == */berthd* ]] || return 1
	echo "$pid"
}

stop_daemon() {
	local pid
	pid=$(daemon_pid) || { rm -f "$pidfile"; return 0; }
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 1 100); do
		[[ -e /proc/$pid ]] || break
		sleep 0.2
	done
	if [[ -e /proc/$pid ]]; then
		echo "run.sh: berthd (pid $pid) ignored SIGTERM for 20 s; killing it" >&2
		kill -KILL "$pid" 2>/dev/null
		sleep 0.5
	fi
	rm -f "$pidfile"
}

# Processes a previous run left behind (shims, containers) whose command line names our
# root or state dir; only those are ended.
kill_leftovers() {
	local p cmd n=0
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		[[ $p == "$$" ]] && continue
		cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline") || continue
		if [[ $cmd == *" $root/"* || $cmd == *" $state/"* || $cmd == *"=$root/"* || $cmd == *"=$state/"* ]]; then
			kill -KILL "$p" 2>/dev/null && n=$((n + 1))
		fi
	done
	((n == 0)) || echo "==> ended $n processes left under $root or $state"
}

stop_daemon
kill_leftovers
unmount_under "$state"
unmount_under "$root"
rm -rf --one-file-system "$root" "$state" 2>/dev/null
[[ ! -e $root ]] || die "could not wipe $root"

# ---- berthd ----------------------------------------------------------------------------
cfg=$results/berthd.toml
{
	echo "# Written by scripts/cri-conformance/run.sh: berthd for critest."
	echo "log_level = \"info\""
	echo
	echo "[registry.mirrors]"
	for h in registry.k8s.io gcr.io k8s.gcr.io docker.io quay.io public.ecr.aws ghcr.io; do
		printf '"%s" = ["%s"]\n' "$h" "$mirror"
	done
	echo
	echo "[network]"
	echo "default_bridge = \"$bridge\""
	echo "default_subnet = \"$subnet\""
} >"$cfg"

rm -f "$results"/berthd.log "$results"/critest.log "$results"/critest.json "$results"/summary.txt
bindir=$(dirname "$berthd")
echo "==> starting $berthd (root $root, state $state, config $cfg)"
PATH=$bindir:$repo_root/bin:$PATH setsid "$berthd" --config "$cfg" --root "$root" --state "$state" \
	</dev/null >"$results/berthd.log" 2>&1 &
echo $! >"$pidfile"
dpid=$!

cleanup() {
	if ((keep)); then
		echo "==> berthd left running (pid $dpid, socket $sock)"
	else
		stop_daemon
	fi
}
trap cleanup EXIT

for _ in $(seq 1 150); do
	[[ -S $sock ]] && break
	kill -0 "$dpid" 2>/dev/null || break
	sleep 0.2
done
if [[ ! -S $sock ]]; then
	tail -n 30 "$results/berthd.log" >&2
	if ! kill -0 "$dpid" 2>/dev/null; then
		wait "$dpid"
		die "berthd exited (status $?) before creating $sock; log: $results/berthd.log"
	fi
	die "berthd did not create $sock within 30 s; log: $results/berthd.log"
fi
if [[ -x $crictl ]]; then
	printf 'runtime-endpoint: %s\nimage-endpoint: %s\ntimeout: 10\n' "$endpoint" "$endpoint" >"$results/crictl.yaml"
	if ! "$crictl" --config "$results/crictl.yaml" version 2>&1 | sed 's/^/    /'; then
		die "crictl version failed against $endpoint"
	fi
fi

# ---- critest ---------------------------------------------------------------------------
args=(--runtime-endpoint "$endpoint" --image-endpoint "$endpoint"
	-ginkgo.no-color -ginkgo.timeout="${timeout_s}s" -ginkgo.json-report="$results/critest.json")
((benchmark)) && args+=(-benchmark)
[[ -n $focus ]] && args+=(-ginkgo.focus="$focus")
args+=("${extra[@]}")

echo "==> $critest ${args[*]}"
echo "    full output: $results/critest.log"
t0=$SECONDS
# The tests want a scratch dir and run in it; critest writes nothing else.
(cd "$results" && timeout -k 10 $((timeout_s + 120)) "$critest" "${args[@]}") >"$results/critest.log" 2>&1
rc=$?
wall=$((SECONDS - t0))

# ---- report ----------------------------------------------------------------------------
# ginkgo's own summary: "Ran N of M Specs in S seconds" and
# "FAIL! -- P Passed | F Failed | X Pending | K Skipped" (or SUCCESS!).
ran_line=$(grep -E '^Ran [0-9]+ of [0-9]+ Specs' "$results/critest.log" | tail -n 1)
count_line=$(grep -E '[0-9]+ Passed \| [0-9]+ Failed \| [0-9]+ Pending \| [0-9]+ Skipped' "$results/critest.log" | tail -n 1)
# A run without failures ends with only "SUCCESS! <duration> PASS" (e.g. -benchmark); then
# the counts come from the JSON report, in the same shape.
if [[ -z $count_line ]] && command -v jq >/dev/null && [[ -s $results/critest.json ]]; then
	count_line=$(jq -r '[.[].SpecReports[]? | select(.LeafNodeType == "It")] as $s |
		def n(st): $s | map(select(.State == st)) | length;
		"(from critest.json) \(n("passed")) Passed | \($s | map(select(.State != "passed" and .State != "skipped" and .State != "pending")) | length) Failed | \(n("pending")) Pending | \(n("skipped")) Skipped"' \
		"$results/critest.json" 2>/dev/null)
	ran_line=$(jq -r '[.[].SpecReports[]? | select(.LeafNodeType == "It")] as $s |
		"Ran \($s | map(select(.State != "skipped" and .State != "pending")) | length) of \($s | length) Specs (from critest.json)"' \
		"$results/critest.json" 2>/dev/null)
fi
num() { sed -n "s/.*[^0-9]\([0-9][0-9]*\) $1.*/\1/p" <<<" $count_line"; }

{
	echo "== critest v1.34.0 against $berthd ($(basename "$berthd") $("$berthd" --version 2>/dev/null | awk '{print $2}'))"
	echo "   exit $rc, wall ${wall} s"
	if [[ -n $count_line ]]; then
		echo "   $ran_line"
		echo "   $count_line"
		printf '   passed %s  failed %s  skipped %s  pending %s\n' "$(num Passed)" "$(num Failed)" "$(num Skipped)" "$(num Pending)"
	else
		echo "   no ginkgo summary in critest.log"
	fi
	if command -v jq >/dev/null && [[ -s $results/critest.json ]]; then
		# Skips split in two: specs skipped at run time carry a message (Skip(...)),
		# specs filtered out by focus/skip (e.g. the benchmarks) do not.
		jq -r '
			[.[].SpecReports[]? | select(.LeafNodeType == "It")] as $s |
			($s | map(select(.State == "skipped" and ((.Failure.Message // "") != "")))) as $rs |
			($s | map(select(.State == "skipped" and ((.Failure.Message // "") == "")))) as $fs |
			"   specs \($s | length): ran \($s | map(select(.State != "skipped" and .State != "pending")) | length), " +
			"skipped at run time \($rs | length), filtered out \($fs | length)"' "$results/critest.json"
		failed=$(jq -r '.[].SpecReports[]? | select(.State != "passed" and .State != "skipped" and .State != "pending") |
			"\(.State)\t\((.ContainerHierarchyTexts // []) + [.LeafNodeText] | map(select(. != "")) | join(" "))"' \
			"$results/critest.json" | sort -t$'\t' -k2)
		if [[ -n $failed ]]; then
			echo "   failed specs ($(grep -c . <<<"$failed")):"
			awk -F'\t' '{ printf "     %s%s\n", ($1 == "failed" ? "" : "[" $1 "] "), $2 }' <<<"$failed"
			# Grouped by message, ids and UUIDs blanked out so that alike failures count together.
			echo "   failure messages (count, first line, ids blanked):"
			jq -r '.[].SpecReports[]? | select(.LeafNodeType == "It" and .State != "passed" and .State != "skipped" and .State != "pending") |
				(.Failure.Message // "(no message)") | split("\n") | map(gsub("^\\s+|\\s+$"; "") | select(. != "")) |
				(if (.[0] // "") | test("^(Expected|Unexpected error:)") then .[0:3] else .[0:1] end) | join(" ") |
				gsub("0x[0-9a-f]+"; "0x…") |
				gsub("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"; "<uuid>") |
				gsub("[0-9a-f]{16,}"; "<id>") | .[0:160]' \
				"$results/critest.json" | sort | uniq -c | sort -rn | head -n 15 | sed 's/^ */     /'
		fi
	else
		# No jq or no JSON report: ginkgo's "Summarizing N Failures" block.
		failed=$(awk '/^Summarizing [0-9]+ Failure/ { on = 1; next } on && /^ *\[(FAIL|PANICKED|TIMEDOUT|INTERRUPTED)\]/ { sub(/^ */, ""); print }' \
			"$results/critest.log")
		if [[ -n $failed ]]; then
			echo "   failed specs ($(grep -c . <<<"$failed")):"
			sed 's/^/     /' <<<"$failed"
		fi
	fi
} | tee "$results/summary.txt"

if [[ -z $count_line ]]; then
	echo "run.sh: critest produced no ginkgo summary (exit $rc); see $results/critest.log" >&2
	tail -n 20 "$results/critest.log" >&2
	exit 3
fi
exit 0
