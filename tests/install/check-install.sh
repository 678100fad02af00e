#!/bin/sh
# `cmake --install` of a built tree into a scratch prefix: the files a user
# is told about in README.md ("Build and install") are there, and the
# installed programs run from there (--version, --help without control
# characters and with examples, the example configuration accepted).
# Usage: check-install.sh BUILD_DIR [man]   (man: the man pages too)
set -u
build=$1
man=${2:-}
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
. "$(dirname "$0")/tap.sh"

if cmake --install "$build" --prefix "$prefix" >"$prefix.log" 2>&1; then
  pass "cmake --install succeeds"
else
  fail "cmake --install succeeds" "$(tail -5 "$prefix.log")"
fi
rm -f "$prefix.log"

for f in sbin/nvmecused bin/nvmecuse-perf \
  share/doc/nvmecuse/README.md share/doc/nvmecuse/configuration.md \
  share/doc/nvmecuse/performance.md share/doc/nvmecuse/plots/performance.png \
  share/doc/nvmecuse/examples/emulated-controller.json share/doc/nvmecuse/examples/nvmecused.json \
  lib/modules-load.d/nvmecuse.conf; do
  check "installs $f" test -s "$prefix/$f"
done
if [ "$man" = man ]; then
  for page in man8/nvmecused.8 man8/nvmecusectl.8 man1/nvmecuse-perf.1; do
    check "installs share/man/$page" test -s "$prefix/share/man/$page"
  done
  check "nvmecused(8) documents --attach" grep -q 'attach' "$prefix/share/man/man8/nvmecused.8"
  check "nvmecusectl(8) documents each subcommand's options" \
    grep -q '^\.SH SUBCOMMANDS' "$prefix/share/man/man8/nvmecusectl.8"
fi
check "modules-load.d loads cuse" grep -qx cuse "$prefix/lib/modules-load.d/nvmecuse.conf"
check "the systemd unit starts the nvmecused of this prefix" \
  grep -qx "ExecStart=$prefix/sbin/nvmecused --log-format journal" "$prefix/lib/systemd/system/nvmecused.service"
check "nvmecuse-demo is not installed" test ! -e "$prefix/bin/nvmecuse-demo"

for p in sbin/nvmecused sbin/nvmecusectl bin/nvmecuse-perf; do
  name=${p#*/}
  out=$("$prefix/$p" --version 2>&1)
  check "$name --version" test "$(echo "$out" | cut -d' ' -f1)" = "$name"
  "$prefix/$p" --help >"$prefix/help" 2>&1
  check "$name --help exits 0" test $? -eq 0
  # Each subcommand's --help too (nvmecusectl's "Subcommands:" list).
  for sub in $(awk '/^Subcommands:/ { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^$/ { exit }' \
                 "$prefix/help"); do
    "$prefix/$p" "$sub" --help >>"$prefix/help" 2>&1
    check "$name $sub --help exits 0" test $? -eq 0
  done
  # Every byte printable ASCII, a tab or a newline.
  check "$name --help has no control characters" \
    test "$(LC_ALL=C tr -d '\11\12\40-\176' <"$prefix/help" | wc -c)" -eq 0
  check "$name --help shows examples" grep -q '^Examples:' "$prefix/help"
  completion=$prefix/share/bash-completion/completions/$name
  check "installs the bash completion of $name" test -s "$completion"
  # Every long option --help shows is one the completion offers.
  missing=""
  for option in $(grep -oE -- '--[a-z][a-z0-9_-]+' "$prefix/help" | sort -u); do
    grep -qE -- "(^|[ '])$option([ ']|$)" "$completion" || missing="$missing $option"
  done
  if [ -z "$missing" ]; then pass "the completion of $name offers every option"; else fail "the completion of $name offers every option" "missing:$missing"; fi
  check "the completion of $name is valid bash" bash -n "$completion"
done

# The installed example configuration passes every check the daemon makes.
example=$prefix/share/doc/nvmecuse/examples/emulated-controller.json
out=$("$prefix/sbin/nvmecused" --emulate --config "$example" --check-config 2>&1)
check "the installed example configuration is accepted" test "$out" = "$example: OK (3 namespace(s))"
# And the daemon's example configuration file (--json), checked without attaching.
example=$prefix/share/doc/nvmecuse/examples/nvmecused.json
out=$("$prefix/sbin/nvmecused" --json "$example" --check 2>&1)
check "the installed example daemon configuration is accepted" test "$out" = "$example: OK (2 controller(s) to attach)"

summary
