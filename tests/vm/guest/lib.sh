# Sourced by every guest suite (busybox ash). TAP-like output: one "ok" or
# "not ok" line per check, a summary at the end, and `finish` returns
# non-zero when any check failed. Usage in a suite:
#   . /vm/lib.sh
#   start_daemon /vm/conformance.json
#   run nvme id-ctrl /dev/nvmecuse/nvme0
#   expect_status "id-ctrl succeeds" 0
#   expect_field "id-ctrl mn" mn "nvmecuse Conformance SSD"
#   finish

passed=0
failed=0
OUT=""          # stdout+stderr of the last `run`
STATUS=0        # its exit status
DAEMON_PID=""
DEV=/dev/nvmecuse

pass() { passed=$((passed + 1)); echo "ok - $1"; }
fail() {
  failed=$((failed + 1))
  echo "not ok - $1"
  shift
  for line in "$@"; do echo "#   $line"; done
}

# run CMD...: runs CMD, keeps its output in $OUT and exit status in $STATUS.
run() {
  OUT=$("$@" 2>&1)
  STATUS=$?
  return 0
}

# Shows the last command's output under a failure.
show_out() { echo "$OUT" | head -40 | sed 's/^/#   | /'; }

expect_status() { # NAME EXPECTED
  if [ "$STATUS" -eq "$2" ]; then pass "$1"; else fail "$1" "exit status $STATUS, expected $2"; show_out; fi
}

expect_eq() { # NAME ACTUAL EXPECTED
  if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "got      '$2'" "expected '$3'"; fi
}

expect_contains() { # NAME TEXT : $OUT contains TEXT (fixed string)
  if printf '%s\n' "$OUT" | grep -qF -- "$2"; then pass "$1"; else fail "$1" "output lacks '$2'"; show_out; fi
}

expect_not_contains() { # NAME TEXT
  if printf '%s\n' "$OUT" | grep -qF -- "$2"; then fail "$1" "output has '$2'"; show_out; else pass "$1"; fi
}

expect_match() { # NAME REGEX : some line of $OUT matches the extended REGEX
  if printf '%s\n' "$OUT" | grep -qE -- "$2"; then pass "$1"; else fail "$1" "no line matches /$2/"; show_out; fi
}

# same NAME FILE1 FILE2: the two files are identical, byte for byte.
same() {
  if cmp "$2" "$3" >/tmp/cmp.out 2>&1; then pass "$1"; else fail "$1" "$(cat /tmp/cmp.out)"; fi
}

# write_read_back NAME WRITER READER SLBA NLB-1 BYTES FILE: nvme write of
# FILE through node WRITER, nvme read of the same blocks through node READER
# (the same node or another path to the namespace), byte for byte.
write_read_back() {
  run nvme write $2 -s $4 -c $5 -z $6 -d $7
  expect_status "$1: write through $2" 0
  rm -f /tmp/read-back
  run nvme read $3 -s $4 -c $5 -z $6 -d /tmp/read-back
  expect_status "$1: read through $3" 0
  same "$1: $3 reads what $2 wrote" $7 /tmp/read-back
}

# field NAME: the value of "NAME : value" in nvme-cli's normal output ($OUT),
# trailing blanks removed.
field() {
  printf '%s\n' "$OUT" | awk -F: -v k="$1" '
    { key = $1; gsub(/[ \t]+$/, "", key) }
    key == k { v = substr($0, index($0, ":") + 1); sub(/^[ \t]+/, "", v); sub(/[ \t]+$/, "", v); print v; exit }'
}

expect_field() { # NAME KEY EXPECTED
  expect_eq "$1" "$(field "$2")" "$3"
}

# json FILTER: applies a jq filter to $OUT.
json() { printf '%s\n' "$OUT" | jq -r "$1" 2>&1; }

expect_json() { # NAME FILTER EXPECTED
  expect_eq "$1" "$(json "$2")" "$3"
}

# wait_for PATH [TENTHS]: waits until PATH exists (default 10 s).
wait_for() {
  i=0
  while [ ! -e "$1" ]; do
    i=$((i + 1))
    [ "$i" -gt "${2:-100}" ] && return 1
    sleep 0.1
  done
  return 0
}

# wait_gone PATH [TENTHS]: waits until PATH no longer exists (default 10 s).
wait_gone() {
  i=0
  while [ -e "$1" ]; do
    i=$((i + 1))
    [ "$i" -gt "${2:-100}" ] && return 1
    sleep 0.1
  done
  return 0
}

# nvme_pci_function: the PCI address of the guest's NVMe function (QEMU's
# NVMe device), empty when there is none.
nvme_pci_function() {
  for d in /sys/bus/pci/devices/*; do
    [ "$(cat "$d/class")" = 0x010802 ] && echo "${d##*/}"
  done | head -1
}

# kernel_blk BDF: waits up to 10 s for the block device of namespace 1 that
# the nvme driver has on the function, and sets KERNEL_BLK to it.
kernel_blk() {
  KERNEL_BLK=""
  i=0
  while [ $i -le 100 ]; do
    for c in /sys/bus/pci/devices/$1/nvme/nvme*; do [ -b /dev/${c##*/}n1 ] && KERNEL_BLK=/dev/${c##*/}n1; done
    [ -n "$KERNEL_BLK" ] && return 0
    i=$((i + 1))
    sleep 0.1
  done
  return 1
}

# nvmet_export NQN DEVICE...: a Linux nvmet subsystem NQN (any host may
# connect) with one namespace per DEVICE (nsid 1, 2, ...; a regular file is
# served with buffered I/O: tmpfs has no O_DIRECT) on NVMe/TCP port 1,
# 127.0.0.1:4420. Loads nvmet, nvmet-tcp and the host's nvme-tcp. Returns
# non-zero unless every namespace is enabled.
# export_null_blk NQN: a memory-backed null_blk namespace exported by nvmet
# as NQN on 127.0.0.1:4420; the suite ends here when that fails.
export_null_blk() {
  if modprobe null_blk nr_devices=1 gb=1 bs=512 memory_backed=1 && wait_for /dev/nullb0 &&
    nvmet_export "$1" /dev/nullb0; then
    pass "nvmet exports a memory-backed null_blk on 127.0.0.1:4420"
  else
    fail "nvmet exports a memory-backed null_blk on 127.0.0.1:4420"
    finish
    exit 1
  fi
}

nvmet_export() {
  nqn=$1
  shift
  modprobe nvmet && modprobe nvmet-tcp && modprobe nvme-tcp || return 1
  cfg=/sys/kernel/config/nvmet
  mkdir $cfg/subsystems/$nqn || return 1
  echo 1 >$cfg/subsystems/$nqn/attr_allow_any_host
  nsid=0
  for device; do
    nsid=$((nsid + 1))
    ns=$cfg/subsystems/$nqn/namespaces/$nsid
    mkdir $ns
    echo "$device" >$ns/device_path
    [ -f "$device" ] && echo 1 >$ns/buffered_io
    echo 1 >$ns/enable
    [ "$(cat $ns/enable)" = 1 ] || return 1
  done
  nvmet_port 1 127.0.0.1 4420 "$nqn"
}

# nvmet_port ID TRADDR TRSVCID NQN: nvmet's NVMe/TCP port ID listening on
# TRADDR:TRSVCID (IPv4), serving NQN (made by nvmet_export) and, as every
# nvmet port, the discovery controller.
nvmet_port() {
  port=/sys/kernel/config/nvmet/ports/$1
  mkdir -p $port || return 1
  echo tcp >$port/addr_trtype
  echo ipv4 >$port/addr_adrfam
  echo "$2" >$port/addr_traddr
  echo "$3" >$port/addr_trsvcid
  ln -s /sys/kernel/config/nvmet/subsystems/$4 $port/subsystems/$4
}

# tcp_host_pair NQN [NVMECUSED_ARGS...]: one memory-backed null_blk namespace
# exported as NQN (nvmet_export), reached by the kernel's NVMe/TCP host
# (nvme connect) and by nvmecused --attach (log in /tmp/nvmecused.log); waits
# for both namespace nodes and sets dev_kernel (/dev/ngXn1), dev_ours
# (/dev/nvmecuse/nvme0n1) and DAEMON_PID. Returns non-zero, saying why, when
# a step fails.
tcp_host_pair() {
  nqn=$1
  shift
  modprobe null_blk nr_devices=1 gb=1 bs=512 memory_backed=1 || return 1
  nvmet_export "$nqn" /dev/nullb0 || { echo "nvmet setup failed"; return 1; }
  nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn" >/dev/null || { echo "nvme connect failed"; return 1; }
  nvmecused --attach "trtype:tcp adrfam:ipv4 traddr:127.0.0.1 trsvcid:4420 subnqn:$nqn" \
    --log-level warn "$@" >/tmp/nvmecused.log 2>&1 &
  DAEMON_PID=$!
  ctrl=""
  i=0
  until [ -n "$ctrl" ] && [ -c "/dev/ng${ctrl#nvme}n1" ] && [ -c /dev/nvmecuse/nvme0n1 ]; do
    for c in /sys/class/nvme/nvme*; do
      [ "$(cat "$c/transport" 2>/dev/null)" = tcp ] && ctrl=${c##*/}
    done
    i=$((i + 1))
    if [ $i -gt 100 ]; then echo "devices missing"; ls /dev; cat /tmp/nvmecused.log; return 1; fi
    sleep 0.1
  done
  dev_kernel=/dev/ng${ctrl#nvme}n1
  dev_ours=/dev/nvmecuse/nvme0n1
}

# start_daemon CONFIG [ARGS...]: starts nvmecused on the emulated controller
# and waits until the controller node and the node of every attached
# namespace in CONFIG exist (they register one after the other).
start_daemon() {
  config=$1
  shift
  echo "--- nvmecused --config $config $*" >>/tmp/nvmecused.log
  nvmecused --emulate --config "$config" --log-level warn "$@" >>/tmp/nvmecused.log 2>&1 &
  DAEMON_PID=$!
  nodes="nvme0 $(jq -r '.namespaces[] | select(.attached != false) | "nvme0n\(.nsid)"' "$config")"
  for node in $nodes; do
    wait_for $DEV/$node && continue
    echo "# nvmecused did not come up ($DEV/$node missing):"
    sed 's/^/#   /' /tmp/nvmecused.log
    return 1
  done
  return 0
}

# start_conformance_daemon: start_daemon on /vm/conformance.json with all
# four namespace nodes there, as a check; the suite ends here if it fails.
start_conformance_daemon() {
  if start_daemon /vm/conformance.json && wait_for $DEV/nvme0n5; then
    pass "nvmecused starts with namespaces 1 2 3 5"
  else
    fail "nvmecused starts with namespaces 1 2 3 5"
    finish
    exit 1
  fi
}

# stop_daemon: SIGTERM, then waits for it; the nodes must disappear. Returns
# the daemon's exit status.
stop_daemon() {
  [ -n "$DAEMON_PID" ] || return 0
  kill "$DAEMON_PID" 2>/dev/null
  wait "$DAEMON_PID"
  rc=$?
  DAEMON_PID=""
  wait_gone $DEV/nvme0 || echo "# $DEV/nvme0 still exists after nvmecused stopped"
  return $rc
}

finish() {
  stop_daemon >/dev/null 2>&1
  # A sanitizer build of the daemon reports here (ASan, LSan, UBSan).
  if grep -qE 'Sanitizer|runtime error:' /tmp/nvmecused.log 2>/dev/null; then
    fail "the daemon's log has no sanitizer report"
  fi
  if [ -s /tmp/nvmecused.log ]; then
    echo "# nvmecused log:"
    sed 's/^/#   /' /tmp/nvmecused.log | tail -30
  fi
  echo "# $passed passed, $failed failed"
  [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
}
