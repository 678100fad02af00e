#!/usr/bin/env bash
# The command blocks README.md marks as runnable (an info string of
# "sh runnable") name only what exists, so that the README cannot drift from
# the code: each command is a script of the repository (executable), one of
# nvmecuse's programs (built; for nvmecusectl, a subcommand its --help
# lists) or a program on this host; each option given
# to a script is in its text and each option given to one of nvmecuse's
# programs is in its --help; each relative path is in the repository, and a
# build/<dir> path or a --preset names a preset of CMakePresets.json. An
# nvmecused command with --config checks that configuration (--check-config).
# Arguments after a bare -- are another program's and are not checked.
# Running the blocks themselves needs root and /dev/cuse (the VM tier).
# Usage: check-readme-commands.sh SOURCE_DIR BUILD_DIR [MARKDOWN_FILE]
set -u -f   # -f: the words of a command are never globs
src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
readme=${3:-$src/README.md}
. "$src/tests/install/tap.sh"
# Where Debian keeps the administration programs a README tells root to run.
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin

presets=$(cd "$src" && cmake --list-presets=all 2>/dev/null)
# PRESET_KIND NAME: NAME is a preset of that kind (configure, build, test).
is_preset() {
  echo "$presets" | awk -v kind="$1" -v name="\"$2\"" '
    /^Available / { section = $2 }
    section == kind && $1 == name { found = 1 }
    END { exit !found }'
}

# Each logical line of a runnable block (continuations joined), as
# "LINE_NUMBER<tab>TEXT".
runnable_lines() {
  awk '
    /^```sh runnable *$/ { inside = 1; next }
    /^```/ { inside = 0; next }
    !inside { next }
    {
      if (pending == "") start = NR
      line = $0
      if (sub(/\\$/, "", line)) { pending = pending line " "; next }
      print start "\t" pending line
      pending = ""
    }' "$readme"
}

# Splits one logical line into simple commands, one per output line: drops
# comments, single-quoted words (they name no program, option or path),
# double quotes and redirections, and breaks at ; && || | $( and ).
simple_commands() {
  sed -E "s/(^|[[:space:]])#.*//; s/'[^']*'/WORD/g; s/\"//g; s/[0-9]*>>?[[:space:]]*[^[:space:]]+//g" <<<"$1" |
    sed -E 's/&&|\|\||[;|`()]|\$\(/\n/g'
}

on_host() { command -v "$1" >/dev/null; }

# The --help text of one of nvmecuse's programs, or nothing.
program_help() {
  local bin=$build/apps/$1/$1
  [ -x "$bin" ] && "$bin" --help 2>&1
}

check_command() { # WHERE WORDS...
  local where=$1
  shift
  while [ $# -gt 0 ] && [[ $1 == *=* && $1 != -* ]]; do shift; done # VAR=value
  [ $# -gt 0 ] || return 0
  local cmd=$1 kind help="" script=""
  shift
  if [[ $cmd == */* ]]; then
    kind=script
    script=$src/$cmd
    check "$where: $cmd is an executable script of the repository" test -x "$script"
  elif [ "$cmd" = nvmecused ] || [ "$cmd" = nvmecusectl ] || [ "$cmd" = nvmecuse-perf ]; then
    kind=program
    help=$(program_help "$cmd")
    check "$where: $cmd is built" test -n "$help"
    if [ "$cmd" = nvmecusectl ]; then
      check "$where: nvmecusectl $1 is a subcommand its --help lists" \
        grep -qE -- "^  $1 " <<<"$(awk '/^Subcommands:/ { on = 1 } on' <<<"$help")"
    fi
  else
    kind=host
    check "$where: $cmd is a program on this host" on_host "$cmd"
  fi

  local word option previous=""
  for word in "$@"; do
    [ "$word" = -- ] && break
    if [[ $word == -* ]]; then
      option=${word%%=*}
      case $kind in
        script) check "$where: $cmd takes $option" grep -qsF -- "$option" "$script" ;;
        program) check "$where: $cmd --help lists $option" \
          grep -qE -- "(^|[ ,])$option([ ,=]|$)" <<<"$help" ;;
      esac
    elif [ "$previous" = --preset ]; then
      local preset_kind=configure
      [ "$cmd" = ctest ] && preset_kind='test'
      [[ " $* " == *" --build "* ]] && preset_kind=build
      check "$where: $word is a $preset_kind preset" is_preset "$preset_kind" "$word"
    elif [[ $word == build/* || $word == ./build/* ]]; then
      local dir=${word#./}
      dir=${dir#build/}
      check "$where: $word is a preset's build directory" is_preset configure "${dir%%/*}"
    elif [[ $word == */* && $word != /* && $word != \$* && $word != *:* ]]; then
      check "$where: $word is in the repository" test -e "$src/$word"
    fi
    previous=$word
  done

  if [ "$cmd" = nvmecused ] && [[ " $* " == *" --config "* ]] && [ -n "$help" ]; then
    local out
    if out=$(cd "$src" && "$build/apps/nvmecused/nvmecused" "$@" --check-config 2>&1); then
      pass "$where: nvmecused $* --check-config accepts it"
    else
      fail "$where: nvmecused $* --check-config accepts it" "$out"
    fi
  fi
}

blocks=0
while IFS=$'\t' read -r number text; do
  blocks=1
  while read -r command_line; do
    # shellcheck disable=SC2086 # word splitting is the point
    [ -n "${command_line// /}" ] && check_command "${readme##*/}:$number" $command_line
  done < <(simple_commands "$text")
done < <(runnable_lines)
check "${readme##*/} marks command blocks as runnable" test "$blocks" -eq 1

summary
