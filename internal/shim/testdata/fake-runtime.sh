#!/bin/sh
# A stand-in for a runc-compatible runtime, for tests without root: a
# "container" is a plain process that create starts, blocked until start,
# running the script in its bundle. No exec, no terminal.
root=/run/fake; log=/dev/null
while [ $# -gt 0 ]; do
	case "$1" in
	--root) root=$2; shift 2 ;;
	--log) log=$2; shift 2 ;;
	--log-format) shift 2 ;;
	*) break ;;
	esac
done
fail() {
	printf '{"level":"error","msg":"%s","time":"now"}\n' "$1" >>"$log"
	echo "fake-runtime: $1" >&2
	exit 1
}
cmd=$1; shift
case $cmd in
create|run)
	bundle= pidfile= console=
	while [ $# -gt 1 ]; do
		case "$1" in
		--bundle) bundle=$2; shift 2 ;;
		--pid-file) pidfile=$2; shift 2 ;;
		--console-socket) console=$2; shift 2 ;;
		*) shift ;;
		esac
	done
	id=$1
	[ -z "$console" ] || fail "terminals are not supported"
	[ -f "$bundle/script" ] || fail "bundle $bundle has no script"
	mkdir -p "$root/$id" || fail "cannot make state"
	[ "$cmd" = create ] || touch "$root/$id/started" # run: create and start
	sh -c 'while [ ! -e "$1" ]; do sleep 0.01; done; exec sh "$2"' fake "$root/$id/started" "$bundle/script" &
	echo $! >"$root/$id/pid"
	echo $! >"$pidfile"
	;;
start)
	[ -d "$root/$1" ] || fail "container $1 does not exist"
	touch "$root/$1/started"
	;;
kill)
	[ "$1" = --all ] && shift
	kill -"$2" "$(cat "$root/$1/pid")" 2>/dev/null || fail "container $1 is not running"
	;;
delete)
	if [ "$1" = --force ]; then
		shift
		kill -9 "$(cat "$root/$1/pid" 2>/dev/null)" 2>/dev/null
	fi
	rm -rf "${root:?}/$1"
	;;
*)
	fail "$cmd is not supported"
	;;
esac
