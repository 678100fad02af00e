# The NVMe/TCP host (transport/tcp) against a real target: tcp_nvmet_test
# (tests/unit/tcp_nvmet_test.cpp, built in the build dir, in the guest's
# /usr/bin through tests/vm/run) against Linux nvmet-tcp on 127.0.0.1:4420
# exporting a memory-backed null_blk. Both parameter sets run: without
# digests (*/Off), then, with the kernel's crc32c loaded, with header and data
# digests (*/On). gtest's exit status decides; a skipped test is a failure
# (outside this guest the binary skips everything, so it is not a unit-tier
# ctest test).
#
# ctest runs it as vm.tcp-nvmet; by hand:
#   tests/vm/run --build-dir build/ci -- sh suites/tcp-nvmet.sh
. /vm/lib.sh

subnqn=nqn.2026-11.io.nvmecuse:tcp-nvmet
export NVMECUSE_TCP_NVMET="trtype:tcp traddr:127.0.0.1 trsvcid:4420 subnqn:$subnqn"

export_null_blk $subnqn

# gtest VARIANT: runs the */VARIANT tests; passes when gtest exits 0, ran at
# least one test and skipped none.
gtest() {
  run tcp_nvmet_test --gtest_filter="*/$1" --gtest_color=no
  printf '%s\n' "$OUT" | sed 's/^/#   /'
  if [ "$STATUS" -ne 0 ]; then
    fail "tcp_nvmet_test */$1" "gtest exit status $STATUS"
  elif printf '%s\n' "$OUT" | grep -q 'SKIPPED'; then
    fail "tcp_nvmet_test */$1" "a test was skipped"
  elif ! printf '%s\n' "$OUT" | grep -qE '^\[  PASSED  \] [1-9][0-9]* test'; then
    fail "tcp_nvmet_test */$1" "no test passed"
  else
    pass "tcp_nvmet_test */$1"
  fi
}

gtest Off

# nvmet-tcp computes digests with the kernel's crc32c; without it, 6.1 refuses
# the digest connection and then oopses, so the digest run needs it loaded.
if modprobe crc32c_generic; then
  pass "crc32c_generic loads"
  gtest On
else
  fail "crc32c_generic loads" "the digest tests (*/On) did not run"
fi

finish
