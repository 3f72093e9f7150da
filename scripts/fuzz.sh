#!/usr/bin/env bash
# Runs every go fuzz target for FUZZTIME (default 10s) each.
set -euo pipefail
cd "$(dirname "$0")/.."
t=${FUZZTIME:-10s}
grep -rl --include='*_test.go' '^func Fuzz' internal cmd | while read -r f; do
	pkg=./$(dirname "$f")
	for fn in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | cut -d' ' -f2); do
		echo "== $pkg $fn"
		go test -run=NONE -fuzz="^$fn\$" -fuzztime="$t" "$pkg"
	done
done
