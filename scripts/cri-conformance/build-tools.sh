#!/usr/bin/env bash
# Builds critest and crictl (cri-tools v1.34.0) into /opt/cri-tools/bin.
#
#   scripts/cri-conformance/build-tools.sh [--prefix DIR] [--force]
#
# See /work/shared/CONFORMANCE.md section A. The Go proxy serves cri-tools v1.34.0 only
# (no @v/list, so no @latest) and sum.golang.org has no entry for it, hence GONOSUMDB
# for that one module. cmd/critest holds only cri_test.go: upstream builds it with
# `go test -c`. The module dir in the cache is read-only: we build in it with
# -mod=readonly (nothing is written there), else from a writable copy. Skipped when
# both binaries exist and the stamp .cri-tools-version says v1.34.0 (--force rebuilds).
# The compiles run under `nice -n 19` (NICE=0 to disable).
set -euo pipefail

version=v1.34.0
module=sigs.k8s.io/cri-tools
prefix=${CRI_TOOLS_PREFIX:-/opt/cri-tools}
force=0
nice_n=${NICE:-19}

usage() {
	sed -n '2,3p' "$0" | sed 's/^# \{0,1\}//'
	exit "${1:-2}"
}

while (($#)); do
	case $1 in
	--prefix) prefix=${2:?--prefix needs a value}; shift 2 ;;
	--prefix=*) prefix=${1#*=}; shift ;;
	--force) force=1; shift ;;
	-h | --help) usage 0 ;;
	*) echo "build-tools.sh: unknown argument: $1" >&2; usage ;;
	esac
done

bindir=$prefix/bin
stamp=$bindir/.cri-tools-version

if ((!force)) && [[ -x $bindir/critest && -x $bindir/crictl ]] &&
	[[ -f $stamp ]] && grep -qx "$version" "$stamp"; then
	echo "==> cri-tools $version: critest and crictl already in $bindir, skipping (--force rebuilds)"
	exit 0
fi

command -v go >/dev/null || { echo "build-tools.sh: go not found on PATH" >&2; exit 1; }

export GOTOOLCHAIN=local
export CGO_ENABLED=0
export GONOSUMDB=$module${GONOSUMDB:+,$GONOSUMDB}

nice_cmd=()
((nice_n == 0)) || nice_cmd=(nice -n "$nice_n")

work=$(mktemp -d /tmp/cri-tools-build.XXXXXX)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT

t0=$SECONDS
echo "==> cri-tools $version: downloading $module@$version"
# Run outside any module so the project's go.mod is not consulted.
out=$(cd "$work" && go mod download -json "$module@$version")
src=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' <<<"$out")
[[ -n $src && -d $src ]] || { echo "build-tools.sh: module dir for $module@$version not found" >&2; exit 1; }

ldflags="-X $module/pkg/version.Version=${version#v}"
stage=$work/out
mkdir -p "$stage"

# build DIR: critest and crictl from the module in DIR into $stage.
build() {
	(
		cd "$1" &&
			go mod download &&
			"${nice_cmd[@]}" go test -c -ldflags "$ldflags" -o "$stage/critest" ./cmd/critest &&
			"${nice_cmd[@]}" go build -ldflags "$ldflags" -o "$stage/crictl" ./cmd/crictl
	)
}

# In place first: the module's go.sum is complete, so -mod=readonly builds without
# writing to the (read-only, but not for root) module cache, and the file paths in
# critest's failure reports point at real files ($src/pkg/validate/...). Should the
# module need go.mod/go.sum updates, build from a writable copy with -mod=mod instead.
echo "==> cri-tools $version: building critest (go test -c) and crictl in $src"
if ! GOFLAGS="-mod=readonly -buildvcs=false" build "$src"; then
	echo "==> cri-tools $version: in-place build failed; building from a writable copy"
	cp -a "$src" "$work/src"
	chmod -R u+w "$work/src"
	GOFLAGS="-mod=mod -buildvcs=false" build "$work/src"
fi

mkdir -p "$bindir"
install -m 0755 "$stage/critest" "$bindir/critest.new"
install -m 0755 "$stage/crictl" "$bindir/crictl.new"
mv -f "$bindir/critest.new" "$bindir/critest"
mv -f "$bindir/crictl.new" "$bindir/crictl"
echo "$version" >"$stamp"
echo "==> cri-tools $version: built $bindir/critest and $bindir/crictl in $((SECONDS - t0)) s"
