#!/usr/bin/env bash
# The command blocks README.md marks as runnable (an info string starting
# "sh runnable") name only what exists, so that the README cannot drift from
# the code: each command is a script of the repository (executable), one of
# nvmecuse's programs (built; for nvmecusectl, a subcommand its --help
# lists) or a program on this host; each option given
# to a script is in its text and each option given to one of nvmecuse's
# programs is in its --help (for nvmecusectl, its own or its subcommand's);
# each relative path is in the repository, and a
# build/<dir> path or a --preset names a preset of CMakePresets.json. An
# nvmecused command with --config checks that configuration (--check-config).
# Arguments after a bare -- are another program's and are not checked.
# The blocks marked "sh runnable" run verbatim in the test guest (vm.main-job,
# tests/vm/guest/readme-blocks.sh); "sh runnable not-in-guest: REASON" ones
# are checked here only, and "sh not-runnable: REASON" ones not at all; both
# are counted with their reason, and a shell block with no marker is an
# error (readme-blocks.awk).
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

# The blocks and their logical lines (readme-blocks.awk, which the guest's
# runner shares, so both read the same markers).
blocks_and_lines=$(awk -f "$src/tests/docs/readme-blocks.awk" "$readme")

# Each logical line of a runnable block, in the guest or not, as
# "LINE_NUMBER<tab>TEXT".
runnable_lines() { awk -F'\t' '$1 == "line" { print $2 "\t" $3 }' <<<"$blocks_and_lines"; }

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
      help+=$'\n'$("$build/apps/nvmecusectl/nvmecusectl" "$1" --help 2>&1) # the subcommand's options
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

# Every shell block runs in the guest or says why not: the counts, and each
# exclusion with its reason.
while IFS=$'\t' read -r _ number kind reason; do
  case $kind in
    malformed | unmarked)
      fail "${readme##*/}:$number: a shell block is 'sh runnable', 'sh runnable not-in-guest: REASON' or 'sh not-runnable: REASON'" "${reason:-sh}" ;;
    not-in-guest) echo "# ${readme##*/}:$number not run in the guest: $reason" ;;
    not-runnable) echo "# ${readme##*/}:$number not runnable: $reason" ;;
  esac
done < <(grep '^block' <<<"$blocks_and_lines")
count() { grep -c "^block"$'\t'"[0-9]*"$'\t'"$1"$'\t' <<<"$blocks_and_lines"; }
echo "# ${readme##*/}: $(count guest) blocks run in the guest (vm.main-job), $(count not-in-guest) checked here only, $(count not-runnable) not runnable"

summary
