#!/usr/bin/env bash
# Builds the OCI runtime-tools validation suites into /opt/runtime-tools/<version>/.
#
#   scripts/oci-conformance/build.sh [--suite 2024-11|2026-03|all] [--prefix DIR] [--force]
#
# runtime-tools has one tag (v0.9.0, 2019, no go.mod) that no longer compiles, so we
# build two master snapshots the Go proxy serves as pseudo-versions (see
# /work/shared/CONFORMANCE.md section B):
#   2024-11  v0.9.1-0.20241108202711-f7e3563b0271  (runtime-spec 1.1.0; the default)
#   2026-03  v0.9.1-0.20260316125833-8a4db579f5c8  (runtime-spec 1.3.0)
#
# Per version the output dir holds: runtimetest (static; every test copies ./runtimetest
# into its bundle and runs it as the container process), one <name>.t per
# validation/<name>/, rootfs-amd64.tar.gz, and a .built stamp. A version whose stamp
# is present is skipped, so the script is cheap to call from make.
set -euo pipefail

prefix=${OCI_CONFORMANCE_PREFIX:-/opt/runtime-tools}
suite=all
force=0

usage() {
	sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//'
	exit "${1:-2}"
}

while (($#)); do
	case $1 in
	--suite) suite=${2:?--suite needs a value}; shift 2 ;;
	--suite=*) suite=${1#*=}; shift ;;
	--prefix) prefix=${2:?--prefix needs a value}; shift 2 ;;
	--prefix=*) prefix=${1#*=}; shift ;;
	--force) force=1; shift ;;
	-h | --help) usage 0 ;;
	*) echo "build.sh: unknown argument: $1" >&2; usage ;;
	esac
done

module=github.com/opencontainers/runtime-tools
declare -A versions=(
	[2024-11]=v0.9.1-0.20241108202711-f7e3563b0271
	[2026-03]=v0.9.1-0.20260316125833-8a4db579f5c8
)
case $suite in
all) suites=(2024-11 2026-03) ;;
2024-11 | 2026-03) suites=("$suite") ;;
*) echo "build.sh: unknown suite '$suite' (2024-11, 2026-03 or all)" >&2; exit 2 ;;
esac

command -v go >/dev/null || { echo "build.sh: go not found on PATH" >&2; exit 1; }

# The module zip ships vendor/modules.txt without the vendored code, so module mode
# must be forced; -buildvcs=false because the sources are not a VCS checkout.
# GOTOOLCHAIN=local: build with the installed go (the modules ask for go 1.19/1.21).
export GOFLAGS="-mod=mod -buildvcs=false"
export GOTOOLCHAIN=local
export CGO_ENABLED=0

work=""
cleanup() { [[ -z $work ]] || rm -rf "$work"; }
trap cleanup EXIT

# mod_download MODULE@VERSION prints the module's directory in the module cache.
# Falls back to skipping the checksum database for runtime-tools only (pseudo-versions
# of master are not always in sum.golang.org).
mod_download() {
	local out
	if ! out=$(go mod download -json "$1" 2>&1); then
		echo "build.sh: go mod download $1 failed, retrying with GONOSUMDB=$module" >&2
		out=$(GONOSUMDB=$module${GONOSUMDB:+,$GONOSUMDB} go mod download -json "$1")
	fi
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' <<<"$out"
}

build_one() {
	local name=$1 version=${versions[$1]}
	local dest=$prefix/$version stamp=$prefix/$version/.built
	if ((!force)) && [[ -f $stamp ]] && grep -qx "version=$version" "$stamp"; then
		echo "==> $name ($version): already built in $dest, skipping (--force rebuilds)"
		return 0
	fi
	echo "==> $name ($version): building into $dest"
	local t0=$SECONDS

	work=$(mktemp -d /tmp/oci-conformance-build.XXXXXX)
	local src
	src=$(cd "$work" && mod_download "$module@$version")
	[[ -n $src && -d $src ]] || { echo "build.sh: module dir for $module@$version not found" >&2; return 1; }

	# Build from a writable copy: never let -mod=mod touch go.mod/go.sum in the
	# (read-only, but not for root) module cache.
	cp -a "$src" "$work/src"
	chmod -R u+w "$work/src"
	cd "$work/src"
	go mod download

	local stage=$work/out
	mkdir -p "$stage"
	# runtimetest runs inside the test containers' minimal rootfs: fully static.
	go build -tags "netgo osusergo" -ldflags "-extldflags -static" -o "$stage/runtimetest" ./cmd/runtimetest
	if file "$stage/runtimetest" 2>/dev/null | grep -q 'dynamically linked'; then
		echo "build.sh: runtimetest is not static" >&2
		return 1
	fi

	# validation/<name>/ → <name>.t (util is the shared library, not a program).
	local dir n count=0
	for dir in validation/*/; do
		n=$(basename "$dir")
		[[ $n == util ]] && continue
		ls "$dir"*.go >/dev/null 2>&1 || continue
		go build -o "$stage/$n.t" "./$dir"
		count=$((count + 1))
	done
	((count > 0)) || { echo "build.sh: no validation programs found" >&2; return 1; }
	cp rootfs-amd64.tar.gz "$stage/"

	{
		echo "module=$module"
		echo "version=$version"
		echo "suite=$name"
		echo "programs=$count"
		echo "go=$(go env GOVERSION)"
		echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	} >"$stage/.built"

	cd /
	mkdir -p "$prefix"
	rm -rf "$dest.new"
	mv "$stage" "$dest.new"
	rm -rf "$dest"
	mv "$dest.new" "$dest"
	rm -rf "$work"
	work=""
	echo "==> $name ($version): $count programs + runtimetest + rootfs in $((SECONDS - t0)) s"
}

for s in "${suites[@]}"; do
	build_one "$s"
done
