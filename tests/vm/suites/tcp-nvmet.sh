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
# them when it is unlinked again; the first one stays throughout. The
# discovery controller is nvme0 (claimed first, as the kernel's nvme
# connect-all makes it), with a controller node of its own as the kernel's
# (nvme id-ctrl, nvme get-log --log-id=0x70 against nvme discover). A referral (port 1 referring to port 2's discovery
# controller, which refers back) is followed: port 2's subsystem is attached,
# the loop not, and removing the referral detaches it. The discovery
# controller is listed by controller_list with what it attached and
# nvme-cli's 30 s Keep Alive Timeout, saved by save-config and brought back
# by a daemon started from that file; detached by name, it takes the
# subsystem's controller with it.
#
# ctest runs it as vm.tcp-nvmet; by hand:
#   tests/vm/run --build-dir build/ci -- sh suites/tcp-nvmet.sh
# ci-tier: release
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
if wait_for $DEV/nvme1n1 300; then
  pass "--persistent: the subsystem the discovery log lists is served"
else
  fail "--persistent: the subsystem the discovery log lists is served"
fi

# The discovery controller's own node, as the kernel leaves /dev/nvmeX for a
# persistent discovery controller: a controller node, no namespace node, on
# which nvme id-ctrl and nvme get-log --log-id=0x70 work; the log it returns
# is byte for byte what the kernel's nvme discover reads (--raw).
run nvme id-ctrl $DEV/nvme0 -o json
expect_json "nvme id-ctrl on the discovery controller's node" .subnqn \
  nqn.2014-08.org.nvmexpress.discovery
run test -e $DEV/nvme0n1
expect_status "the discovery controller has no namespace node" 1
if nvme discover -t tcp -a 127.0.0.1 -s 4420 --raw=/tmp/kernel-discovery.bin >/dev/null &&
  nvme get-log $DEV/nvme0 --log-id=0x70 --log-len="$(stat -c %s /tmp/kernel-discovery.bin)" -b \
    >/tmp/our-discovery.bin && cmp /tmp/kernel-discovery.bin /tmp/our-discovery.bin; then
  pass "nvme get-log --log-id=0x70 on it: the kernel's discovery log, byte for byte"
else
  fail "nvme get-log --log-id=0x70 on it: the kernel's discovery log, byte for byte"
fi

# file_subsystem NQN IMAGE: nvmet's subsystem NQN, open to any host, whose
# namespace 1 is a 64 MiB file IMAGE; on no port yet.
file_subsystem() {
  truncate -s 64M "$2"
  mkdir $cfg/subsystems/$1
  echo 1 >$cfg/subsystems/$1/attr_allow_any_host
  mkdir $cfg/subsystems/$1/namespaces/1
  echo "$2" >$cfg/subsystems/$1/namespaces/1/device_path
  echo 1 >$cfg/subsystems/$1/namespaces/1/buffered_io
  echo 1 >$cfg/subsystems/$1/namespaces/1/enable
}

# nvme2_comes NAME NQN: nvme2's nodes come within 15 s (passes NAME), and
# are NQN's.
nvme2_comes() {
  if wait_for $DEV/nvme2n1 150; then
    pass "$1"
    run nvme id-ctrl $DEV/nvme2 -o json
    expect_json "they are $2's" .subnqn "$2"
  else
    fail "$1"
  fi
}

# A second subsystem, file-backed, linked to the port while the daemon runs.
file_subsystem $later /tmp/later.img
ln -s $cfg/subsystems/$later $cfg/ports/1/subsystems/$later
nvme2_comes "a subsystem linked to the port at run time gets its nodes" $later

# nvme2_goes NAME: nvme2's nodes go (passes NAME), the first subsystem's stay.
nvme2_goes() {
  if wait_gone $DEV/nvme2n1 100 && wait_gone $DEV/nvme2 50; then pass "$1"; else fail "$1"; fi
  run test -e $DEV/nvme1n1
  expect_status "the first subsystem's nodes stay" 0
}
rm $cfg/ports/1/subsystems/$later
nvme2_goes "unlinked from the port, its nodes go"
grep -c "Discovery Log Page Change" /tmp/nvmecused.log >/tmp/changes
expect_eq "the daemon saw two Discovery Log Page Change events" "$(cat /tmp/changes)" 2

# The discovery controller in the control plane.
run nvmecusectl call controller_list '{"name": "nvme0"}'
expect_json "controller_list: nvme0 is the discovery controller" '.[0].discovery' true
expect_json "controller_list: it is live" '.[0].state' live
expect_json "controller_list: its node" '.[0].node' $DEV/nvme0
expect_json "controller_list: its transport ID" '.[0].trid.trsvcid' 4420
expect_json "controller_list: it attached nvme1 (nvme2 went with its subsystem)" \
  '.[0].discovered | join(",")' nvme1
expect_json "controller_list: no one attached nvme0" '.[0].discovered_by' null
run nvmecusectl call controller_list '{"name": "nvme1"}'
expect_json "controller_list: nvme1 was attached by nvme0" '.[0].discovered_by' nvme0
run nvmecusectl call save_config
expect_json "save_config: the discovery controller, persistent, Keep Alive 30 s" \
  '[.subsystems[0].config[] | select(.method == "controller_attach") | .params | "\(.persistent) \(.kato) \(.subnqn)"] | join(";")' \
  "true 30 null"
run nvmecusectl list-subsys
expect_contains "list-subsys: the discovery subsystem" "NQN=nqn.2014-08.org.nvmexpress.discovery"
run nvmecusectl list
expect_contains "nvmecusectl list: the discovery controller's node" "$DEV/nvme0 "

# A referral (nvmet's ports/1/referrals): port 2 (127.0.0.1:4421) serves a
# third subsystem and refers back to port 1 (a loop). Referred to by port 1's
# log, its discovery controller is connected too and its subsystem attached;
# the referral back is not followed. Once the referral is gone, what came
# only through it is detached and the referred discovery controller let go.
referred=nqn.2026-12.io.nvmecuse:tcp-nvmet-referred
file_subsystem $referred /tmp/referred.img
nvmet_port 2 127.0.0.1 4421 $referred
# nvmet_referral PORT NAME TRSVCID: a referral on PORT to 127.0.0.1:TRSVCID.
nvmet_referral() {
  r=$cfg/ports/$1/referrals/$2
  mkdir $r && echo tcp >$r/addr_trtype && echo ipv4 >$r/addr_adrfam &&
    echo 127.0.0.1 >$r/addr_traddr && echo "$3" >$r/addr_trsvcid && echo 1 >$r/enable
}
nvmet_referral 2 back 4420
if nvmet_referral 1 to-4421 4421; then
  pass "nvmet: port 1 refers to port 2's discovery controller"
else
  fail "nvmet: port 1 refers to port 2's discovery controller"
fi
nvme2_comes "the referred discovery controller's subsystem gets its nodes" $referred
run nvmecusectl call controller_list '{"name": "nvme0"}'
expect_json "controller_list: nvme0 follows the referral to 4421" \
  '[.[0].referrals[] | .trsvcid] | join(",")' 4421
expect_json "controller_list: nvme0 attached nvme1 and, through the referral, nvme2" \
  '.[0].discovered | join(",")' nvme1,nvme2
expect_eq "the referred discovery controller was connected once (the referral back is a loop)" \
  "$(grep -c 'following the referred discovery controller' /tmp/nvmecused.log)" 1
rmdir $cfg/ports/1/referrals/to-4421
nvme2_goes "the referral gone, the subsystem that came only through it is detached"
expect_eq "the referred discovery controller is let go" \
  "$(grep -c 'no longer referred: disconnecting it' /tmp/nvmecused.log)" 1
run nvmecusectl call controller_list '{"name": "nvme0"}'
expect_json "controller_list: no referral followed" '.[0].referrals | length' 0
rmdir $cfg/ports/2/referrals/back
rm $cfg/ports/2/subsystems/$referred
rmdir $cfg/ports/2

# Restarted from its saved configuration, the daemon follows the log again.
nvmecusectl save-config /tmp/discovery.json
stop_daemon
echo "--- nvmecused --json /tmp/discovery.json" >>/tmp/nvmecused.log
nvmecused --json /tmp/discovery.json --log-level info >>/tmp/nvmecused.log 2>&1 &
DAEMON_PID=$!
if wait_for $DEV/nvme1n1 300; then
  pass "restarted from save-config: the discovery controller attaches the subsystem again"
else
  fail "restarted from save-config: the discovery controller attaches the subsystem again"
fi
run nvmecusectl call controller_list '{"name": "nvme0"}'
expect_json "restarted: nvme0 is the discovery controller again" '.[0].discovered | join(",")' nvme1
run nvmecusectl detach nvme0
expect_status "nvmecusectl detach nvme0 (the discovery controller)" 0
if wait_gone $DEV/nvme1n1 50; then
  pass "detaching the discovery controller detaches what it attached"
else
  fail "detaching the discovery controller detaches what it attached"
fi
run nvmecusectl call controller_list
expect_json "controller_list is empty" 'length' 0

finish
