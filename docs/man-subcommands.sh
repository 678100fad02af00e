#!/bin/sh
# Writes help2man's --include file for PROGRAM: a SUBCOMMANDS section with
# the options of each subcommand its --help lists under "Subcommands:"
# (each one's --help from "Options:" up to its examples), or no file when
# it has none (help2man's --opt-include then skips it).
# Usage: man-subcommands.sh PROGRAM OUTPUT
set -eu
program=$1
output=$2
subcommands=$("$program" --help | awk '/^Subcommands:/ { on = 1; next }
                                       on && /^  [a-z]/ { print $1 } on && /^$/ { exit }')
rm -f "$output"
[ -n "$subcommands" ] || exit 0
echo '[SUBCOMMANDS]' >>"$output"
for sub in $subcommands; do
  printf '.SS %s\n.nf\n' "$sub" >>"$output"
  "$program" "$sub" --help | awk '/^Options:/ { on = 1; next } /^Examples:/ { exit }
                                  on { gsub(/\\/, "\\e"); sub(/^[.\047]/, "\\&&"); print }' >>"$output"
  echo '.fi' >>"$output"
done
