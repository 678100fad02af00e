# shellcheck shell=sh
# Sourced by the install tests: one "ok"/"not ok" line per check, a count at
# the end (summary), and the exit status of the whole (summary's).
passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok - $1"; }
fail() { failed=$((failed + 1)); echo "not ok - $1${2:+: $2}"; }
check() { # LABEL COMMAND...
  check_label=$1
  shift
  if "$@"; then pass "$check_label"; else fail "$check_label"; fi
}
summary() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
