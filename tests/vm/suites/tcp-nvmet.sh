# The NVMe/TCP host (transport/tcp) against a real target: tcp_nvmet_test
# (tests/unit/tcp_nvmet_test.cpp, built in the build dir, in the guest's
# /usr/bin through tests/vm/run) against Linux nvmet-tcp on 127.0.0.1:4420
# exporting a memory-backed null_blk. Both parameter sets run: without
# digests (*/Off), then, with the kernel's crc32c loaded, with header and data
# digests (*/On). gtest's exit status decides; a skipped test is a failure
# (outside this guest the binary skips everything, so it is not a unit-tier
# ctest test).
#
# Then persistent discovery (nvmecused --persistent, nvme connect-all
# --persistent): the daemon attaches nvmet's discovery controller on the same
# port, serves the subsystem its log lists, and follows the log: a subsystem
# linked to the port at run time (nvmet sends the Discovery Log Page Change
# event to discovery controllers that enabled it) gets its nodes, and loses
# them when it is unlinked again; the first one stays throughout.
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

# --- persistent discovery -------------------------------------------------------
cfg=/sys/kernel/config/nvmet
later=nqn.2026-11.io.nvmecuse:tcp-nvmet-later
echo "--- nvmecused --attach (discovery, 4420) --persistent" >>/tmp/nvmecused.log
nvmecused --attach "trtype:tcp traddr:127.0.0.1 trsvcid:4420" --persistent \
  --log-level info >>/tmp/nvmecused.log 2>&1 &
DAEMON_PID=$!
if wait_for $DEV/nvme0n1 300; then
  pass "--persistent: the subsystem the discovery log lists is served"
else
  fail "--persistent: the subsystem the discovery log lists is served"
fi

# A second subsystem, file-backed, linked to the port while the daemon runs.
truncate -s 64M /tmp/later.img
mkdir $cfg/subsystems/$later
echo 1 >$cfg/subsystems/$later/attr_allow_any_host
mkdir $cfg/subsystems/$later/namespaces/1
echo /tmp/later.img >$cfg/subsystems/$later/namespaces/1/device_path
echo 1 >$cfg/subsystems/$later/namespaces/1/buffered_io
echo 1 >$cfg/subsystems/$later/namespaces/1/enable
ln -s $cfg/subsystems/$later $cfg/ports/1/subsystems/$later
if wait_for $DEV/nvme1n1 100; then
  pass "a subsystem linked to the port at run time gets its nodes"
  run nvme id-ctrl $DEV/nvme1 -o json
  expect_json "they are the new subsystem's" .subnqn "$later"
else
  fail "a subsystem linked to the port at run time gets its nodes"
fi

rm $cfg/ports/1/subsystems/$later
if wait_gone $DEV/nvme1n1 100 && wait_gone $DEV/nvme1 50; then
  pass "unlinked from the port, its nodes go"
else
  fail "unlinked from the port, its nodes go"
fi
run test -e $DEV/nvme0n1
expect_status "the first subsystem's nodes stay" 0
grep -c "Discovery Log Page Change" /tmp/nvmecused.log >/tmp/changes
expect_eq "the daemon saw two Discovery Log Page Change events" "$(cat /tmp/changes)" 2

finish
