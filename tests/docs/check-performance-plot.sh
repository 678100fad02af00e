#!/usr/bin/env bash
# docs/performance.md's plot shows its own figures: every row of the plot's
# data files (docs/plots/*.dat) is a row of a table in performance.md's
# "What to expect" section (same numbers, same order; "-" stands for any
# cell), the section embeds the PNG, and the committed PNG is what
# docs/plots/performance.gp draws from those files (when gnuplot is here).
# Usage: check-performance-plot.sh SOURCE_DIR
set -u
src=$(cd "$1" && pwd)
doc=$src/docs/performance.md
. "$src/tests/install/tap.sh"

# The "What to expect" section: from the title to the next "## ".
summary_section() {
  awk '/^## What to expect/ { on = 1; next } on && /^## / { exit } on' "$doc"
}

# DATA_FILE FIRST_COLUMN: one extended regex per data row, matching a
# markdown table row with those numbers from column FIRST_COLUMN on
# (1: every column, 2: the first column is a label).
row_patterns() {
  awk -v first="$2" '
    /^#/ || NF == 0 { next }
    {
      # A quoted label is one field.
      line = $0
      if (line ~ /^"/) { sub(/^"[^"]*"[ \t]*/, "", line); line = "label " line }
      n = split(line, f, /[ \t]+/)
      pattern = "^\\|"
      if (first == 2) pattern = pattern "[^|]+\\|"
      for (i = first; i <= n; i++)
        pattern = pattern (f[i] == "-" ? "[^|]+" : " " f[i] "( [^|]*)? ") "\\|"
      print pattern "$"
    }' "$1"
}

section=$(summary_section)
check "performance.md has a \"What to expect\" section" test -n "$section"
for entry in latency.dat:2 callers.dat:1; do
  file=${entry%%:*}
  rows=0
  while read -r pattern; do
    rows=$((rows + 1))
    if grep -Eq -- "$pattern" <<<"$section"; then
      pass "$file row $rows is in the section's tables"
    else
      fail "$file row $rows is in the section's tables" "no table row matches $pattern"
    fi
  done < <(row_patterns "$src/docs/plots/$file" "${entry##*:}")
  check "$file has rows" test "$rows" -gt 0
done

check "the section embeds plots/performance.png" \
  grep -q '](plots/performance\.png)' <<<"$section"

if command -v gnuplot >/dev/null; then
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  if (cd "$src" && gnuplot -e "output='$scratch/performance.png'" docs/plots/performance.gp); then
    check "docs/plots/performance.png is what performance.gp draws (rerun it)" \
      cmp -s "$scratch/performance.png" "$src/docs/plots/performance.png"
  else
    fail "docs/plots/performance.gp runs"
  fi
else
  echo "# gnuplot not found (scripts/install-deps installs it): PNG not redrawn"
fi

summary
