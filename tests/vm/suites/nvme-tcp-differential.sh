# Differential: the same nvme-cli 2.3 and smartctl 7.3 commands against two
# controllers of one nvmet-tcp subsystem on 127.0.0.1:4420 -- the kernel's
# NVMe/TCP host (/dev/nvmeX, /dev/ngXnY) and nvmecused --attach
# (/dev/nvmecuse/nvme0, nvme0nY) -- must print the same and exit the same,
# once device names, the controller ID and the counters that legitimately
# move between two controllers are masked. Data written through one path
# reads back identically through the other.
#
# Namespaces: nsid 1 a memory-backed null_blk (512-byte blocks, 1 GiB),
# nsid 2 a file in tmpfs (buffered I/O: tmpfs has no O_DIRECT in 6.1; nvmet
# gives it 4096-byte blocks).
#
# ctest runs it as vm.nvme-tcp-differential; by hand:
#   tests/vm/run -- sh suites/nvme-tcp-differential.sh [--peer-kernel] [--verbose]
#
# Arguments: --peer-kernel: the second controller is another kernel connection
# (duplicate_connect through /dev/nvme-fabrics) instead of nvmecused: a check of the
# suite and its masks that needs no NVMe/TCP host of ours.
# ci-tier: release
. /vm/lib.sh

peer=nvmecused
verbose=0
for arg; do
  case $arg in
    --peer-kernel) peer=kernel ;;
    --verbose) verbose=1 ;; # the head of every compared output
    *) echo "nvme-tcp-differential: unknown argument $arg"; exit 2 ;;
  esac
done

T=/tmp/diff
mkdir -p $T /etc/nvme
subnqn=nqn.2026-11.io.nvmecuse:differential
# One host identity for both hosts: Get Features Host Identifier then
# agrees, and nvme-cli and nvmecused both read these files.
echo nqn.2014-08.org.nvmexpress:uuid:5e1f7c52-8e0b-4bd8-a0a5-0d3e5b7a1c11 >/etc/nvme/hostnqn
echo 5e1f7c52-8e0b-4bd8-a0a5-0d3e5b7a1c11 >/etc/nvme/hostid

# --- the target ---------------------------------------------------------------
modprobe null_blk nr_devices=1 gb=1 bs=512 memory_backed=1
head -c 67108864 /dev/zero >$T/ns2.img
if nvmet_export $subnqn /dev/nullb0 $T/ns2.img; then
  pass "nvmet exports nsid 1 (null_blk) and nsid 2 (tmpfs file)"
else
  fail "nvmet exports nsid 1 (null_blk) and nsid 2 (tmpfs file)"
fi

# tcp_controllers: the kernel's NVMe/TCP controllers of $subnqn, in order.
tcp_controllers() {
  for c in /sys/class/nvme/nvme*; do
    [ -e "$c/transport" ] && [ "$(cat $c/transport)" = tcp ] &&
      [ "$(cat $c/subsysnqn)" = $subnqn ] && echo ${c##*/}
  done
}

# --- the kernel's host ----------------------------------------------------------
run nvme connect -t tcp -a 127.0.0.1 -s 4420 -n $subnqn
expect_status "the kernel's NVMe/TCP host connects" 0
KC=/dev/$(tcp_controllers | head -1)
wait_for $KC 50
# The namespaces' generic char devices (/dev/ngXnY: the multipath head
# when native multipath is on, the controller's own namespace otherwise).
kernel_ns() { # NSID
  i=0
  while [ $i -lt 50 ]; do
    # shellcheck disable=SC2012
    d=$(ls /dev/ng*n$1 2>/dev/null | head -1)
    [ -n "$d" ] && { echo "$d"; return 0; }
    i=$((i + 1))
    sleep 0.1
  done
  return 1
}
KN1=$(kernel_ns 1)
KN2=$(kernel_ns 2)
if [ -c "$KC" ] && [ -c "$KN1" ] && [ -c "$KN2" ]; then
  pass "the kernel's nodes: $KC $KN1 $KN2"
else
  fail "the kernel's nodes" "controller '$KC', namespaces '$KN1' '$KN2'"
  finish
  exit 1
fi

# --- the second controller --------------------------------------------------------
trid="trtype:tcp adrfam:ipv4 traddr:127.0.0.1 trsvcid:4420 subnqn:$subnqn"
if [ $peer = kernel ]; then
  # nvme-cli 2.3 refuses a second connection even with --duplicate-connect;
  # the kernel takes it.
  opts="transport=tcp,traddr=127.0.0.1,trsvcid=4420,nqn=$subnqn,duplicate_connect"
  opts="$opts,hostnqn=$(cat /etc/nvme/hostnqn),hostid=$(cat /etc/nvme/hostid)"
  run sh -c "echo '$opts' >/dev/nvme-fabrics"
  expect_status "a second kernel connection (--peer-kernel)" 0
  UC=/dev/$(tcp_controllers | tail -1)
  wait_for $UC 50
  UN1=$KN1
  UN2=$KN2
else
  echo "--- nvmecused --attach '$trid'" >>/tmp/nvmecused.log
  nvmecused --attach "$trid" --log-level warn >>/tmp/nvmecused.log 2>&1 &
  DAEMON_PID=$!
  UC=$DEV/nvme0
  UN1=$DEV/nvme0n1
  UN2=$DEV/nvme0n2
  wait_for $UN1 300 && wait_for $UN2 100
fi
if [ -c "$UC" ] && [ -c "$UN1" ] && [ -c "$UN2" ] && [ "$UC" != "$KC" ]; then
  pass "$peer serves a second controller of the subsystem: $UC $UN1 $UN2"
else
  fail "$peer serves a second controller of the subsystem" "controller '$UC', namespaces '$UN1' '$UN2'"
  finish
  exit 1
fi

# --- comparing ---------------------------------------------------------------------
# mask: device names, the controller ID, the counters that move per
# controller (error log entries) and the time of day. MASK adds a sed
# script for one comparison.
MASK=""
mask() {
  sed -E \
    -e 's#(/dev/)?(nvmecuse/)?(nvme|ng)[0-9]+(c[0-9]+)?(n[0-9]+)?#DEV#g' \
    -e 's/^(cntlid[[:space:]]*: ).*/\1MASKED/' \
    -e 's/("cntlid" *: *)[0-9]+/\1MASKED/' \
    -e 's/^(Controller ID:[[:space:]]*).*/\1MASKED/' \
    -e 's/^(num_err_log_entries[[:space:]]*:).*/\1 MASKED/' \
    -e 's/("num_err_log_entries" *: *)[0-9]+/\1MASKED/' \
    -e 's/^(Error Information Log Entries:[[:space:]]*).*/\1MASKED/' \
    -e 's/^(Local Time is:[[:space:]]*).*/\1MASKED/' \
    -e "${MASK:-b}"
}

# both NAME EXPECTED 'COMMAND': runs COMMAND (with $C, $N1, $N2) on the
# kernel's nodes and on the second controller's. The kernel's exit status
# must be EXPECTED ("any": whatever it is), the second's the same, and the
# masked outputs identical.
both() {
  name=$1 expected=$2 cmd=$3
  file=$(echo "$name" | tr -c 'A-Za-z0-9\n' _)
  C=$KC N1=$KN1 N2=$KN2
  eval "$cmd" >$T/k.$file 2>&1
  ks=$?
  C=$UC N1=$UN1 N2=$UN2
  eval "$cmd" >$T/u.$file 2>&1
  us=$?
  mask <$T/k.$file >$T/k.$file.m
  mask <$T/u.$file >$T/u.$file.m
  if [ "$expected" != any ] && [ $ks -ne "$expected" ]; then
    fail "$name" "the kernel's exit status is $ks, expected $expected"
    sed 's/^/#   | /' $T/k.$file | head -20
  elif [ $ks -ne $us ]; then
    fail "$name" "exit status: kernel $ks, $peer $us"
    sed 's/^/#   | /' $T/u.$file | head -20
  elif ! cmp -s $T/k.$file.m $T/u.$file.m; then
    fail "$name" "the outputs differ (- kernel, + $peer, masked):"
    diff -u $T/k.$file.m $T/u.$file.m | tail -n +3 | head -30 | sed 's/^/#   /'
  elif [ ! -s $T/k.$file ]; then
    fail "$name" "no output at all"
  else
    pass "$name (exit $ks)"
    [ $verbose = 1 ] && head -8 $T/k.$file | sed 's/^/#   | /'
  fi
  MASK=""
}

# --- identify ----------------------------------------------------------------------
both "id-ctrl" 0 'nvme id-ctrl $C'
both "id-ctrl -H" 0 'nvme id-ctrl -H $C'
both "id-ctrl -o json" 0 'nvme id-ctrl -o json $C'
both "id-ctrl on a namespace node" 0 'nvme id-ctrl $N1'
both "id-ns nsid 1" 0 'nvme id-ns $N1'
both "id-ns nsid 2 -H" 0 'nvme id-ns -H $N2'
both "id-ns -n 2 on the controller" 0 'nvme id-ns -n 2 $C'
both "id-ns -o json" 0 'nvme id-ns -o json $N1'
both "id-ns of an inactive nsid" any 'nvme id-ns -n 7 $C'
both "list-ns" 0 'nvme list-ns $C'
both "list-ns --all (CNS 10h)" any 'nvme list-ns --all $C'
both "ns-descs" 0 'nvme ns-descs $N1'
both "id-ctrl of a namespace by nsid 0xffffffff" any 'nvme id-ns -n 0xffffffff $C'

# --- logs --------------------------------------------------------------------------
both "smart-log" 0 'nvme smart-log $C'
both "smart-log -o json" 0 'nvme smart-log -o json $C'
both "smart-log of nsid 1" any 'nvme smart-log -n 1 $C'
both "fw-log" 0 'nvme fw-log $C'
# (nvme-cli 2.3's effects-log prints nothing for nvmet; the raw log below.)
both "ana-log" any 'nvme ana-log $C'
both "get-log SMART (02h) raw" 0 'nvme get-log $C --log-id=2 --log-len=512'
both "get-log firmware slot (03h) raw" 0 'nvme get-log $C --log-id=3 --log-len=512'
both "get-log effects (05h) raw" 0 'nvme get-log $C --log-id=5 --log-len=4096'
both "get-log changed namespaces (04h)" 0 'nvme get-log $C --log-id=4 --log-len=4096'
both "get-log discovery (70h) on an I/O controller" any 'nvme get-log $C --log-id=0x70 --log-len=1024'
both "get-log unsupported LID (C0h)" any 'nvme get-log $C --log-id=0xc0 --log-len=512'
# Error log entries are per controller (each host's own failed commands), so
# only the shape is compared; the newest entry is checked below.
MASK='s/^(error_count|sqid|cmdid|status_field|phase_tag|parm_err_loc|lba|nsid|vs|trtype|cs|trtype_spec_info)[[:space:]]*:.*/\1 : MASKED/'
both "error-log (shape)" 0 'nvme error-log $C -e 16'

# --- features ----------------------------------------------------------------------
# nvmet answers Number of Queues, Async Event Configuration and Keep Alive
# Timer on an I/O controller; Arbitration, Power Management, Temperature
# Threshold, Error Recovery and Interrupt Coalescing only on a discovery
# controller (6.1): the same refusal is expected from both.
for fid in 0x07 0x0b 0x0f; do
  both "get-feature $fid" 0 "nvme get-feature \$C -f $fid"
  both "get-feature $fid -H" 0 "nvme get-feature \$C -f $fid -H"
done
for fid in 0x01 0x02 0x04 0x05 0x08 0x09; do
  both "get-feature $fid" any "nvme get-feature \$C -f $fid"
done
both "get-feature 0x07 -s 0 (current)" 0 'nvme get-feature $C -f 0x07 -s 0'
both "get-feature 0x04 -s 1 (default)" any 'nvme get-feature $C -f 0x04 -s 1'
both "get-feature 0x04 -s 3 (capabilities)" any 'nvme get-feature $C -f 0x04 -s 3'
# nvmet returns the Host Identifier only as the 128-bit one (EXHID).
both "get-feature host identifier (81h)" 0 'nvme get-feature $C -f 0x81 --cdw11=1 -l 16'
both "get-feature write protect (84h) of nsid 1" any 'nvme get-feature $C -f 0x84 -n 1'
both "get-feature volatile write cache (06h)" any 'nvme get-feature $C -f 0x06'
both "get-feature timestamp (0Eh)" any 'nvme get-feature $C -f 0x0e'
both "get-feature vendor FID C0h" any 'nvme get-feature $C -f 0xc0'

# The newest error log entry, after the same failed Get Features on both:
# the same status, location and namespace; error_count and cmdid are each
# controller's own.
newest_error='nvme get-feature $C -f 0xc0 >/dev/null 2>&1; nvme error-log $C -o json | jq -c ".errors | max_by(.error_count) | del(.error_count, .cmdid)"'
both "error-log: the newest entry is the failed Get Features" 0 "$newest_error"

# --- smartctl ------------------------------------------------------------------------
# smartctl's error log table lists each controller's own errors.
SMART_ERRORS='/^Error Information \(NVMe Log 0x01/,/^$/d'
MASK=$SMART_ERRORS
both "smartctl -a (controller)" any 'smartctl -d nvme -a $C'
MASK=$SMART_ERRORS
both "smartctl -x (controller)" any 'smartctl -d nvme -x $C'
MASK=$SMART_ERRORS
both "smartctl -a (namespace 1)" any 'smartctl -d nvme -a $N1'
both "smartctl -i (namespace 2)" 0 'smartctl -d nvme -i $N2'
both "smartctl -H -c" any 'smartctl -d nvme -H -c $C'
both "smartctl -A" any 'smartctl -d nvme -A $C'
both "smartctl -l selftest" any 'smartctl -d nvme -l selftest $C'

# --- data: written through one, read through the other -------------------------------
head -c 4194304 /dev/urandom >$T/rand
head -c 4096 $T/rand >$T/w4k
head -c 262144 $T/rand >$T/w256k
tail -c 1048576 $T/rand >$T/w1m

write_read_back "nsid 1 4 KiB" $KN1 $UN1 100 7 4096 $T/w4k
write_read_back "nsid 1 4 KiB" $UN1 $KN1 200 7 4096 $T/w4k
write_read_back "nsid 1 256 KiB" $KN1 $UN1 1000 511 262144 $T/w256k
write_read_back "nsid 1 256 KiB" $UN1 $KN1 2000 511 262144 $T/w256k
write_read_back "nsid 1 1 MiB" $UN1 $KN1 4096 2047 1048576 $T/w1m
write_read_back "nsid 2 4 KiB" $KN2 $UN2 10 0 4096 $T/w4k
write_read_back "nsid 2 4 KiB" $UN2 $KN2 11 0 4096 $T/w4k
write_read_back "nsid 2 1 MiB" $UN2 $KN2 256 255 1048576 $T/w1m

# The kernel's block device (page cache, fsync) and nvmecused.
kblk=/dev/$(basename $KN1 | sed 's/^ng/nvme/')
head -c 65536 $T/rand >$T/w64k
dd if=$T/w64k of=$kblk bs=4096 seek=2048 conv=fsync 2>/dev/null
rm -f $T/back
run nvme read $UN1 -s 16384 -c 127 -z 65536 -d $T/back
expect_status "nsid 1: read after the kernel's block device wrote" 0
same "nsid 1: $UN1 reads what $kblk wrote (dd conv=fsync)" $T/w64k $T/back

# Same commands, same results: read, compare, write zeroes, flush.
both "read 4 KiB (hex dump)" 0 'nvme read $N1 -s 100 -c 7 -z 4096 -d /dev/stdout | od -Ax -tx1 | head -4'
both "compare: match" any 'nvme compare $N1 -s 100 -c 7 -z 4096 -d $T/w4k'
head -c 4096 /dev/zero >$T/z4k
both "compare: miscompare" any 'nvme compare $N1 -s 100 -c 7 -z 4096 -d $T/z4k'
both "flush nsid 1" 0 'nvme flush $N1'
both "write past the end" any 'nvme write $N2 -s 16383 -c 1 -z 8192 -d $T/w1m'
both "read past the end" any 'nvme read $N2 -s 16384 -c 0 -z 4096 -d $T/back'
run nvme write-zeroes $UN1 -s 100 -c 7
expect_status "write-zeroes through $peer" 0
rm -f $T/back
run nvme read $KN1 -s 100 -c 7 -z 4096 -d $T/back
same "the kernel reads the zeroes $peer wrote" $T/z4k $T/back
both "smart-log after I/O" 0 'nvme smart-log $C'

# --- nvmecused --attach: discovery, an unreachable target ---------------------------
if [ $peer = nvmecused ]; then
  stop_daemon
  echo "--- nvmecused --attach 'trtype:tcp traddr:127.0.0.1 trsvcid:4420'" >>/tmp/nvmecused.log
  nvmecused --attach "trtype:tcp traddr:127.0.0.1 trsvcid:4420" --log-level warn >>/tmp/nvmecused.log 2>&1 &
  DAEMON_PID=$!
  if wait_for $DEV/nvme0n2 300; then
    run nvme id-ctrl $DEV/nvme0
    expect_field "--attach through the discovery controller finds the subsystem" subnqn $subnqn
  else
    fail "--attach through the discovery controller serves nsid 1 and 2"
  fi
  stop_daemon

  # --emulate and --attach together: the emulated controller takes nvme0,
  # the NVMe/TCP one the next index.
  echo "--- nvmecused --emulate --config /vm/conformance.json --attach '$trid'" >>/tmp/nvmecused.log
  nvmecused --emulate --config /vm/conformance.json --attach "$trid" --log-level warn \
    >>/tmp/nvmecused.log 2>&1 &
  DAEMON_PID=$!
  if wait_for $DEV/nvme1n2 300; then
    run nvme id-ctrl $DEV/nvme0
    expect_field "--emulate with --attach: nvme0 is the emulated controller" mn "nvmecuse Conformance SSD"
    run nvme id-ctrl $DEV/nvme1
    expect_field "--emulate with --attach: nvme1 is the NVMe/TCP one" subnqn $subnqn
  else
    fail "--emulate with --attach serves both controllers" "$(ls $DEV 2>&1)"
  fi
  stop_daemon

  # nvmet refuses the Fabrics Connect to a subsystem it lacks with DNR: final,
  # as for the kernel's nvme connect (EIO), so no retry even with the default
  # --ctrl-loss-tmo (timeout bounds the wait should that ever change).
  run timeout 60 nvmecused --attach "trtype:tcp traddr:127.0.0.1 trsvcid:4420 subnqn:$subnqn:nobody"
  if [ $STATUS -ne 0 ] && [ $STATUS -ne 124 ]; then pass "nvmecused --attach of a subsystem the target lacks exits non-zero at once"; else fail "nvmecused --attach of a subsystem the target lacks exits non-zero at once" "status $STATUS"; fi
  expect_contains "and names it" "$subnqn:nobody"
  expect_not_contains "and leaves no sanitizer report" "Sanitizer"
fi
# With --ctrl-loss-tmo 0 there is nothing to wait for (nvme-tcp-faults has
# the daemon that waits for a target down at start).
run nvmecused --attach "trtype:tcp traddr:127.0.0.1 trsvcid:4421 subnqn:$subnqn" --ctrl-loss-tmo 0
if [ $STATUS -ne 0 ]; then pass "nvmecused --attach of a port nobody listens on exits non-zero (--ctrl-loss-tmo 0)"; else fail "nvmecused --attach of a port nobody listens on exits non-zero (--ctrl-loss-tmo 0)"; fi
expect_contains "and names the target" "127.0.0.1:4421"
expect_not_contains "and leaves no sanitizer report" "Sanitizer"

run nvme disconnect -n $subnqn
expect_status "nvme disconnect" 0
finish
