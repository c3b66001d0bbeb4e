#!/usr/bin/env bash
# Runs every Go fuzz test in the module for FUZZTIME each (default 60s).
# `make test` runs it with a few seconds per target; `make fuzz` for longer.
# go test -fuzz takes one target in one package at a time. Minimizing a
# failing or new input is capped at 100 runs, so short runs spend their time
# fuzzing rather than shrinking large seeds.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-60s}

fuzz_once() {
	go test -run '^$' -fuzz "^${2}\$" -fuzztime "$fuzztime" -fuzzminimizetime 100x "$1" 2>&1
}

status=0
for pkg in $(go list ./...); do
	for target in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
		echo "fuzz: $pkg $target for $fuzztime"
		if out=$(fuzz_once "$pkg" "$target"); then
			echo "$out"
			continue
		fi
		echo "$out"
		# NOTE: Go 1.26's fuzzing engine sometimes fails a run with only
		# "context deadline exceeded" when -fuzztime ends while it handles a
		# new input (seen in CI here, with no input written). A real failure
		# writes the input under testdata/fuzz and prints its path. Only such a
		# run, or a second deadline failure in a row, fails the script.
		if grep -q "context deadline exceeded" <<<"$out" && ! grep -q "Failing input written" <<<"$out"; then
			echo "fuzz: $target stopped at the time limit without a failing input; running it once more"
			fuzz_once "$pkg" "$target" || status=1
		else
			status=1
		fi
	done
done
exit $status
