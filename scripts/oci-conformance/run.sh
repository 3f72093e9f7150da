#!/usr/bin/env bash
# Runs the OCI runtime-tools validation programs against a runtime and reports TAP counts.
#
#   scripts/oci-conformance/run.sh [--suite 2024-11|2026-03|all] [--runtime PATH]
#       [--only NAME...] [--results DIR] [--timeout SECS] [--prepare-crun]
#
#   --suite      which build of runtime-tools (default: all; see build.sh)
#   --runtime    runtime binary (default: $RUNTIME, else <repo>/bin/berth-oci)
#   --only       run only these programs (names with or without .t), e.g. --only create kill
#   --results    results base dir (default /tmp/oci-conformance); TAP goes to
#                <results>/<runtime>/<suite>/<name>.tap (stderr in <name>.stderr, the
#                containers' stderr in <name>.container-stderr)
#   --timeout    per-program timeout in seconds (default 180)
#   --prepare-crun  bind the hugetlb controller to cgroup v1 first (crun refuses the
#                cgroup v1 "hybrid" layout otherwise; see /work/shared/MACHINE.md). Changes
#                the machine's cgroup layout until reboot, so never done by default.
#
# Each <name>.t runs from the suite dir (it needs ./runtimetest and ./rootfs-amd64.tar.gz)
# with RUNTIME=<wrapper>, a script that adds `--root /run/conf-oci/<runtime-name>`. After
# each program, containers left in that root are force-deleted. The exit status is 0 even
# when tests fail (this is a report); non-zero means the harness itself broke.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
prefix=${OCI_CONFORMANCE_PREFIX:-/opt/runtime-tools}
suite=all
runtime=${RUNTIME:-$repo_root/bin/berth-oci}
results_base=/tmp/oci-conformance
timeout_s=180
prepare_crun=0
only=()

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
	--suite) suite=${2:?--suite needs a value}; shift 2 ;;
	--suite=*) suite=${1#*=}; shift ;;
	--runtime) runtime=${2:?--runtime needs a value}; shift 2 ;;
	--runtime=*) runtime=${1#*=}; shift ;;
	--results) results_base=${2:?--results needs a value}; shift 2 ;;
	--results=*) results_base=${1#*=}; shift ;;
	--timeout) timeout_s=${2:?--timeout needs a value}; shift 2 ;;
	--timeout=*) timeout_s=${1#*=}; shift ;;
	--prepare-crun) prepare_crun=1; shift ;;
	--only)
		shift
		while (($#)) && [[ $1 != --* ]]; do only+=("${1%.t}"); shift; done
		((${#only[@]})) || die "--only needs at least one program name"
		;;
	--only=*) only+=("$(basename "${1#*=}" .t)"); shift ;;
	-h | --help) usage 0 ;;
	*) echo "run.sh: unknown argument: $1" >&2; usage ;;
	esac
done

declare -A versions=(
	[2024-11]=v0.9.1-0.20241108202711-f7e3563b0271
	[2026-03]=v0.9.1-0.20260316125833-8a4db579f5c8
)
case $suite in
all) suites=(2024-11 2026-03) ;;
2024-11 | 2026-03) suites=("$suite") ;;
*) die "unknown suite '$suite' (2024-11, 2026-03 or all)" ;;
esac
[[ $timeout_s =~ ^[0-9]+$ ]] || die "--timeout wants whole seconds"

# Resolve the runtime to an absolute path: the wrapper and the cleanup call it directly.
if [[ $runtime != */* ]]; then
	runtime=$(command -v "$runtime") || die "runtime '$runtime' not found on PATH"
fi
[[ -x $runtime && -f $runtime ]] || die "runtime '$runtime' is not an executable file (build it, or pass --runtime)"
runtime=$(realpath "$runtime")
rt_name=$(basename "$runtime")
rt_root=/run/conf-oci/$rt_name

for cmd in timeout realpath mktemp flock; do
	command -v "$cmd" >/dev/null || die "$cmd not found"
done

# ---- crun on the cgroup v1 hybrid layout -------------------------------------------
# hybrid = tmpfs at /sys/fs/cgroup with v1 controllers + a cgroup2 mount at unified/.
is_hybrid() {
	[[ $(stat -f -c %T /sys/fs/cgroup 2>/dev/null) == tmpfs ]] &&
		[[ $(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null) == cgroup2fs ]]
}
hugetlb_on_v1() { mountpoint -q /sys/fs/cgroup/hugetlb 2>/dev/null; }

if ((prepare_crun)); then
	if ! is_hybrid; then
		echo "run.sh: --prepare-crun: cgroup layout is not v1 hybrid, nothing to do"
	elif hugetlb_on_v1; then
		echo "run.sh: --prepare-crun: /sys/fs/cgroup/hugetlb already mounted"
	else
		echo "run.sh: --prepare-crun: binding hugetlb to cgroup v1 at /sys/fs/cgroup/hugetlb"
		mkdir -p /sys/fs/cgroup/hugetlb &&
			mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb ||
			die "--prepare-crun: mounting the hugetlb v1 hierarchy failed"
	fi
elif [[ $rt_name == crun* ]] && is_hybrid && ! hugetlb_on_v1; then
	echo "run.sh: warning: crun refuses this cgroup v1 hybrid layout until hugetlb is bound" \
		"to v1; expect nearly every test to fail (use --prepare-crun)" >&2
fi

# ---- per-runtime state: root dir, lock, wrapper ------------------------------------
mkdir -p "$rt_root" || die "cannot create $rt_root"
exec {lockfd}>"/run/conf-oci/$rt_name.lock" || die "cannot open lock file"
flock -n "$lockfd" || die "another conformance run for '$rt_name' holds /run/conf-oci/$rt_name.lock"

work=$(mktemp -d /tmp/oci-conformance-run.XXXXXX) || die "mktemp failed"
trap 'unmount_under "$work"; rm -rf --one-file-system "$work"' EXIT
# Tests put their bundles in $TMPDIR; containers with a user namespace must be able to
# reach them, so the tree is world-searchable like /tmp (mktemp -d makes it 0700).
chmod 755 "$work"
mkdir -p "$work/bin" "$work/tmp"
chmod 755 "$work/tmp"
wrapper=$work/bin/$rt_name
# Besides adding --root, the wrapper remembers each container's bundle at `create` and,
# at `delete`, appends the bundle's stderr-* files (where the tests send the stderr of
# `create` and so of the container: runtimetest's complaints, init errors) to
# $OCI_CONF_STREAMS. The programs themselves never print those.
mkdir -p "$work/bundles"
{
	echo '#!/bin/sh'
	printf 'rt=%q\nroot=%q\nbundles=%q\n' "$runtime" "$rt_root" "$work/bundles"
	cat <<'EOF'
for last; do :; done
case $1 in
create)
	b=. prev=
	for a; do
		case $prev in --bundle | -b) b=$a ;; esac
		case $a in --bundle=*) b=${a#--bundle=} ;; esac
		prev=$a
	done
	case $b in /*) ;; *) b=$PWD/$b ;; esac
	printf '%s\n' "$b" >"$bundles/$last" 2>/dev/null
	;;
delete)
	if [ -n "${OCI_CONF_STREAMS:-}" ] && [ -f "$bundles/$last" ]; then
		b=$(cat "$bundles/$last")
		for f in "$b"/stderr-*; do
			[ -s "$f" ] && { echo "--- container $last: $(basename "$f")"; cat "$f"; } >>"$OCI_CONF_STREAMS"
		done
		rm -f "$bundles/$last"
	fi
	;;
esac
exec "$rt" --root "$root" "$@"
EOF
} >"$wrapper"
chmod +x "$wrapper"

# unmount_under DIR lazily unmounts every mount at or below DIR, deepest first. Tests
# that share the host's mount namespace (linux_ns_itype, ...) leave the container's
# /proc, /dev, /sys mounted on the bundle's rootfs.
unmount_under() {
	local m
	awk -v d="$1" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo |
		sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
}

# Force-delete whatever the last program left in our root; prints how many.
cleanup_containers() {
	local ids id n=0
	if ! ids=$("$runtime" --root "$rt_root" list -q 2>"$work/list.err"); then
		echo "run.sh: warning: '$rt_name list -q' failed: $(head -c 300 "$work/list.err")" >&2
		# Fall back to the state dirs themselves.
		ids=$(find "$rt_root" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null)
	fi
	for id in $ids; do
		"$runtime" --root "$rt_root" delete -f "$id" >/dev/null 2>&1 ||
			"$runtime" --root "$rt_root" delete "$id" >/dev/null 2>&1 ||
			echo "run.sh: warning: could not delete leftover container $id" >&2
		n=$((n + 1))
	done
	echo "$n"
}

# count_tap FILE → "ok notok skip plan". plan is the sum of all "1..N" lines (some
# programs print two TAP documents), -1 if there is none. A test line carrying a SKIP
# directive counts as skip, whether it says ok or not ok.
count_tap() {
	awk '
		BEGIN { ok = 0; nok = 0; skip = 0; plan = -1 }
		/^1\.\.[0-9]+/ { plan = (plan < 0 ? 0 : plan) + substr($0, 4); next }
		/^(not )?ok([ \t]|$)/ {
			rest = $0
			sub(/^(not )?ok[ \t]*[0-9]*/, "", rest)
			if (tolower(rest) ~ /^[^#]*#[ \t]*skip/) skip++
			else if ($0 ~ /^not ok/) nok++
			else ok++
		}
		END { print ok, nok, skip, plan }
	' "$1"
}

# status OK NOK SKIP PLAN RC → pass | fail | timeout | no-plan | plan-mismatch.
# Anything but pass counts as a "program with failures". A program that exits non-zero
# after a complete plan (e.g. "1..0" when the environment lacks a feature) passes; the
# report lists it under "no assertions" when it asserted nothing.
status_of() {
	local ok=$1 nok=$2 skip=$3 plan=$4 rc=$5
	if ((rc == 124 || rc == 137)); then echo timeout
	elif ((nok > 0)); then echo fail
	elif ((plan < 0)); then echo no-plan
	elif ((plan != ok + nok + skip)); then echo plan-mismatch
	else echo pass; fi
}

harness_broken=0
overall=()

run_suite() {
	local sname=$1 version=${versions[$1]}
	local sdir=$prefix/$version
	local rdir=$results_base/$rt_name/$sname
	if [[ ! -f $sdir/.built || ! -x $sdir/runtimetest ]]; then
		echo "run.sh: suite $sname not built in $sdir (run scripts/oci-conformance/build.sh)" >&2
		harness_broken=1
		return
	fi
	mkdir -p "$rdir" || { echo "run.sh: cannot create $rdir" >&2; harness_broken=1; return; }
	# A full run replaces the previous results; --only replaces just its programs'.
	((${#only[@]})) || rm -f "$rdir"/*.tap "$rdir"/*.stderr "$rdir"/*.container-stderr
	rm -f "$rdir"/summary.tsv "$rdir"/report.txt

	local progs=() p
	if ((${#only[@]})); then
		for p in "${only[@]}"; do
			if [[ -x $sdir/$p.t ]]; then progs+=("$p"); else
				echo "run.sh: no program '$p' in suite $sname" >&2
				harness_broken=1
			fi
		done
	else
		for p in "$sdir"/*.t; do progs+=("$(basename "$p" .t)"); done
	fi
	((${#progs[@]})) || { echo "run.sh: nothing to run in $sname" >&2; harness_broken=1; return; }

	echo "==> $rt_name / $sname ($version): ${#progs[@]} programs, results in $rdir"
	local t_suite=$SECONDS leftovers_total=0
	printf 'name\tok\tnot_ok\tskip\tplan\texit\tseconds\tleftovers\tstatus\n' >"$rdir/summary.tsv"
	for p in "${progs[@]}"; do
		local tmp=$work/tmp/$p t0 rc left secs st c_ok c_nok c_skip c_plan
		mkdir -p "$tmp" && chmod 1777 "$tmp"
		t0=$(date +%s.%N)
		rm -f "$rdir/$p.container-stderr"
		(cd "$sdir" && TMPDIR=$tmp RUNTIME=$wrapper OCI_CONF_STREAMS=$rdir/$p.container-stderr \
			timeout -k 10 "$timeout_s" "./$p.t" </dev/null >"$rdir/$p.tap" 2>"$rdir/$p.stderr")
		rc=$?
		secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
		left=$(cleanup_containers)
		leftovers_total=$((leftovers_total + left))
		unmount_under "$tmp"
		rm -rf --one-file-system "$tmp" 2>/dev/null
		read -r c_ok c_nok c_skip c_plan < <(count_tap "$rdir/$p.tap")
		st=$(status_of "$c_ok" "$c_nok" "$c_skip" "$c_plan" "$rc")
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$p" "$c_ok" "$c_nok" "$c_skip" "$c_plan" \
			"$rc" "$secs" "$left" "$st" >>"$rdir/summary.tsv"
		if ((rc == 126 || rc == 127)); then
			st="$st EXEC-ERROR"
			harness_broken=1
		fi
		printf '  %-36s ok %4d  not ok %3d  skip %3d  exit %3d  %6ss  %s\n' \
			"$p" "$c_ok" "$c_nok" "$c_skip" "$rc" "$secs" "$st"
	done
	local wall=$((SECONDS - t_suite))
	report_suite "$sname" "$version" "$rdir" "$wall" "$leftovers_total" >"$rdir/report.txt"
	cat "$rdir/report.txt"
}

# report_suite prints the totals table and the failures of one suite run.
report_suite() {
	local sname=$1 version=$2 rdir=$3 wall=$4 leftovers=$5
	local ok nok sk n f none
	read -r ok nok sk n f none < <(awk -F'\t' 'NR > 1 {
			ok += $2; nok += $3; sk += $4; n++
			if ($9 != "pass") f++
			if ($2 + $3 + $4 == 0) none++
		} END { printf "%d %d %d %d %d %d\n", ok, nok, sk, n, f, none }' "$rdir/summary.tsv")
	overall+=("$(printf '%-10s %-8s %6d %7d %6d %9s %7ss' "$rt_name" "$sname" "$ok" "$nok" "$sk" "$f/$n" "$wall")")
	echo
	echo "== $rt_name ($runtime) / suite $sname ($version)"
	printf '   %-8s %6s %7s %6s %24s %8s\n' suite ok "not ok" skip "programs with failures" wall
	printf '   %-8s %6d %7d %6d %24s %7ss\n' "$sname" "$ok" "$nok" "$sk" "$f / $n" "$wall"
	((leftovers > 0)) && echo "   leftover containers force-deleted after the tests: $leftovers"
	if ((none > 0)); then
		echo "   no TAP assertion (count 0):" \
			"$(awk -F'\t' 'NR > 1 && $2 + $3 + $4 == 0 { printf "%s%s(exit %s)", sep, $1, $6; sep = " " }' "$rdir/summary.tsv")"
	fi
	if ((f > 0)); then
		echo "   programs with failures:"
		local p c_nok rc st
		while IFS=$'\t' read -r p _ c_nok _ _ rc _ _ st; do
			if [[ $st == fail ]]; then
				echo "     $p: $c_nok not ok (exit $rc)"
				grep -E '^not ok' "$rdir/$p.tap" | grep -viE '^not ok[ \t]*[0-9]*[^#]*#[ \t]*skip' |
					cut -c1-140 | sed 's/^/       /'
			else
				# No verdict in TAP: the program's own stderr says why.
				echo "     $p: $st (exit $rc)"
				if grep -q '[^[:space:]]' "$rdir/$p.stderr"; then
					grep -v '^[[:space:]]*$' "$rdir/$p.stderr" | head -n 2 | cut -c1-140 | sed 's/^/       stderr: /'
				elif [[ -s $rdir/$p.container-stderr ]]; then
					grep -v -e '^[[:space:]]*$' -e '^--- container' "$rdir/$p.container-stderr" | head -n 2 |
						cut -c1-140 | sed 's/^/       container stderr: /'
				else
					echo "       (no TAP and no stderr at all)"
				fi
			fi
		done < <(awk -F'\t' 'NR > 1 && $9 != "pass"' "$rdir/summary.tsv")
	fi
}

t_all=$SECONDS
for s in "${suites[@]}"; do
	run_suite "$s"
done

if ((${#overall[@]} > 1)); then
	echo
	echo "== summary ($((SECONDS - t_all)) s)"
	printf '%-10s %-8s %6s %7s %6s %9s %8s\n' runtime suite ok "not ok" skip failing wall
	printf '%s\n' "${overall[@]}"
fi
if ((harness_broken)); then
	echo "run.sh: the harness hit errors (see above); counts may be incomplete" >&2
	exit 3
fi
exit 0
