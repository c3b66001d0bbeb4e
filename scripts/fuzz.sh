#!/usr/bin/env bash
# Runs every Go fuzz test in the module for FUZZTIME each (default 60s).
# `make test` runs it with a few seconds per target; `make fuzz` for longer.
# go test -fuzz takes one target in one package at a time. Minimizing a
# failing or new input is capped at 100 runs, so short runs spend their time
# fuzzing rather than shrinking large seeds.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-60s}

status=0
for pkg in $(go list ./...); do
	for target in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
		echo "fuzz: $pkg $target for $fuzztime"
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime 100x "$pkg" || status=1
	done
done
exit $status
