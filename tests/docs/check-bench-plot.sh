#!/usr/bin/env bash
# bench/run-vm --plot writes the plot's data from the table the guest
# prints: bench/vm-bench.sh's own table code renders canned medians
# (vm-bench-medians.txt: the run of 2026-11-26 13:05 UTC, bench/run-vm 2 3,
# from docs/performance.md's appendix; thr2 was not measured then), and
# bench/vm-bench-plot must turn that table into exactly these .dat rows and
# a PNG. A change of the table's layout or of the .dat format fails here.
# Usage: check-bench-plot.sh SOURCE_DIR
set -u
src=$(cd "$1" && pwd)
. "$src/tests/install/tap.sh"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# vm-bench.sh's lines from the table's title to the end of its awk program,
# run on the canned medians.
table_code=$(sed -n '/^echo "IOPS (mean latency/,/^  }'"'"' \/tmp\/medians$/p' "$src/bench/vm-bench.sh")
check "bench/vm-bench.sh has its table code (title, then awk over /tmp/medians)" \
  grep -q "/tmp/medians\$" <<<"$table_code"
rounds=3 secs=2 sh -c "${table_code//\/tmp\/medians/\"\$0\"}" "$src/tests/docs/vm-bench-medians.txt" \
  >"$scratch/vm-bench.out" 2>&1
check "the table code runs on the canned medians" grep -q '^workload ' "$scratch/vm-bench.out"

if out=$("$src/bench/vm-bench-plot" "$scratch/vm-bench.out" "$scratch/plot" "bench/run-vm 2 3, 2026-11-26 13:05 UTC" 2>&1); then
  pass "bench/vm-bench-plot turns the table into data and a plot"
else
  fail "bench/vm-bench-plot turns the table into data and a plot" "$out"
fi

# The data rows (comments dropped, blanks squeezed) of FILE.
rows() { grep -v '^#' "$1" 2>/dev/null | tr -s ' '; }
expect_rows() { # FILE EXPECTED
  local got
  got=$(rows "$scratch/plot/$1")
  if [ "$got" = "$2" ]; then pass "$1 has the run's figures"; else fail "$1 has the run's figures" $'\n'"got:"$'\n'"$got"$'\n'"expected:"$'\n'"$2"; fi
}
expect_rows latency.dat '"4 KiB read" 158 180 159
"4 KiB write" 110 136 149
"Identify" 156 143 140
"128 KiB read" - 1014 252'
expect_rows callers.dat '1 6253 5417 6224
2 8420 10123 5863
4 11611 8971 5534
8 12781 7920 11083'
check "latency.dat says which run" grep -q 'bench/run-vm 2 3, 2026-11-26 13:05 UTC' "$scratch/plot/latency.dat"
check "latency.dat says how many rounds" grep -q 'medians of 3 rounds of 2 s' "$scratch/plot/latency.dat"
check "performance.png is a PNG" \
  test "$(head -c 8 "$scratch/plot/performance.png" 2>/dev/null | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a

# A table that lacks a workload the plot needs is refused, not plotted.
grep -v '^randread-4k-8t ' "$scratch/vm-bench.out" >"$scratch/partial.out"
if "$src/bench/vm-bench-plot" "$scratch/partial.out" "$scratch/partial" >"$scratch/partial.log" 2>&1; then
  fail "a run without randread-4k-8t is refused"
else
  check "a run without randread-4k-8t is refused, naming it" grep -q 'no randread-4k-8t row' "$scratch/partial.log"
fi

summary
