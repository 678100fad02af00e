# Differential of a controller's states (issue 20): one nvmet-tcp subsystem
# on 127.0.0.1:4420 is reached by the kernel's NVMe/TCP host (nvme connect)
# and by nvmecused --attach, both with --reconnect-delay 1 and
# --ctrl-loss-tmo $loss. The same ioctls go to both hosts' nodes, through
# descriptors opened while live (nvmecuse-vm-tool probe), in three states:
#   live        connected
#   connecting  the subsystem left the port: the association dropped and
#               every reconnect is refused, before ctrl-loss-tmo
#   deleted     past ctrl-loss-tmo: the kernel deleted its controller
# Each answer (the value or NVMe status, or the errno) and its speed (fast:
# under 1 s; slow; blocked: not returned within 3 s) is printed side by side
# and must be the same. Before the port goes, one read per host is left in
# flight (the target's null_blk is throttled to 1 MB/s, and a 64 KiB read
# waits there for good): both must end the same way once the connection
# drops.
#
# The answers are the README's table (NVMe/TCP: during a reconnect); Debian
# 13's 6.12 answers the same (tests/vm/run --kernel 6.12 -- sh suites/...).
#
# Nodes: the kernel's controller /dev/nvmeX, its namespace head's generic
# node /dev/ngYn1 (ROLE ns) and block node /dev/nvmeYn1 (ROLE blk, the
# block-size ioctls); ours /dev/nvmecuse/nvme0 and nvme0n1 (ROLE ns and blk).
#
# ctest runs it as vm.tcp-reconnect-states; by hand:
#   tests/vm/run -- sh suites/tcp-reconnect-states.sh
. /vm/lib.sh

T=/tmp/states
mkdir -p $T /etc/nvme
nqn=nqn.2026-11.io.nvmecuse:states
cfg=/sys/kernel/config/nvmet
loss=12
echo nqn.2014-08.org.nvmexpress:uuid:0b6c7a8e-3f0e-4c1a-9d3e-6f1e2a4b5c7d >/etc/nvme/hostnqn
echo 0b6c7a8e-3f0e-4c1a-9d3e-6f1e2a4b5c7d >/etc/nvme/hostid

# --- the target: a throttled null_blk (small I/O passes, 64 KiB never does) ----
# (The disk is named after the configfs item: /dev/throttled.)
modprobe null_blk nr_devices=0
nb=/sys/kernel/config/nullb/throttled
if mkdir $nb && echo 512 >$nb/blocksize && echo 64 >$nb/size && echo 1 >$nb/mbps &&
  echo 1 >$nb/power && nvmet_export $nqn /dev/throttled; then
  pass "nvmet exports a throttled null_blk namespace on 127.0.0.1:4420"
else
  fail "nvmet exports a throttled null_blk namespace on 127.0.0.1:4420"
  finish
  exit 1
fi

# --- both hosts --------------------------------------------------------------------
run nvme connect -t tcp -a 127.0.0.1 -s 4420 -n $nqn --reconnect-delay=1 --ctrl-loss-tmo=$loss
expect_status "the kernel's NVMe/TCP host connects" 0
trid="trtype:tcp adrfam:ipv4 traddr:127.0.0.1 trsvcid:4420 subnqn:$nqn"
nvmecused --attach "$trid" --reconnect-delay 1 --ctrl-loss-tmo $loss --log-level info \
  >>/tmp/nvmecused.log 2>&1 &
DAEMON_PID=$!
KC=""
KH=""
i=0
while [ $i -lt 100 ] && [ -z "$KH" ]; do
  for c in /sys/class/nvme/nvme*; do
    [ "$(cat $c/transport 2>/dev/null)" = tcp ] || continue
    KC=${c##*/}
    # The path nvmeYcXn1 names the namespace head nvmeYn1.
    for p in $c/nvme*c*n1; do
      [ -e "$p" ] || continue
      p=${p##*/}
      KH=${p%%c*}n1
    done
  done
  i=$((i + 1))
  sleep 0.1
done
KN=/dev/ng${KH#nvme}
KB=/dev/$KH
wait_for $KN 50 && wait_for $KB 50
if wait_for $DEV/nvme0n1 300 && [ -c /dev/$KC ] && [ -c $KN ] && [ -b $KB ]; then
  pass "the nodes: kernel /dev/$KC $KN $KB, ours $DEV/nvme0 $DEV/nvme0n1"
else
  fail "the nodes" "kernel '/dev/$KC' '$KN' '$KB'" "$(ls $DEV 2>&1)"
  finish
  exit 1
fi

# --- the probes: one per host, fed a state's label through a fifo ---------------
mkfifo $T/kernel.in $T/ours.in
nvmecuse-vm-tool probe ctrl=/dev/$KC ns=$KN blk=$KB <$T/kernel.in >$T/kernel.out 2>&1 &
KPROBE=$!
nvmecuse-vm-tool probe ctrl=$DEV/nvme0 ns=$DEV/nvme0n1 blk=$DEV/nvme0n1 <$T/ours.in \
  >$T/ours.out 2>&1 &
UPROBE=$!
exec 3>$T/kernel.in 4>$T/ours.in

# probe LABEL: both probes run their ioctls for LABEL (at most 60 s).
probe() {
  echo "$1" >&3
  echo "$1" >&4
  i=0
  until grep -q "^$1 done" $T/kernel.out && grep -q "^$1 done" $T/ours.out; do
    i=$((i + 1))
    [ $i -gt 600 ] && { echo "# probe $1 did not finish"; return 1; }
    sleep 0.1
  done
}

# compare STATE: the side-by-side table of STATE; a check per row.
# Known: past ctrl-loss-tmo both hosts delete the controller and its nodes
# (a new open: ENOENT on both), but the kernel still answers descriptors
# opened before, where fuse answers those of a removed CUSE node ENOTCONN.
compare() {
  state=$1
  printf '# %-11s %-5s %-15s | %-20s | %s\n' state role ioctl kernel nvmecused
  grep "^$state " $T/kernel.out | grep -v " done$" | while read -r label role op result speed ms; do
    set -- $(grep "^$state $role $op " $T/ours.out)
    printf '# %-11s %-5s %-15s | %-20s | %s\n' "$label" "$role" "$op" "$result $speed ${ms}ms" \
      "$4 $5 ${6}ms"
    if [ "$result $speed" = "$4 $5" ]; then
      echo "ok - $label $role $op: $result $speed"
    elif [ "$state $4" = "deleted ENOTCONN" ]; then
      echo "# known difference - $label $role $op: kernel $result, nvmecused $4 (node removed)"
    else
      echo "not ok - $label $role $op: kernel $result $speed, nvmecused $4 $5"
    fi
  done >$T/rows.$state
  grep '^# ' $T/rows.$state | grep -v '^# known'
  passed=$((passed + $(grep -c '^ok' $T/rows.$state)))
  failed=$((failed + $(grep -c '^not ok' $T/rows.$state)))
  grep -v '^# ' $T/rows.$state
  grep '^# known' $T/rows.$state
}

probe live && compare live

# --- a read in flight when the connection drops --------------------------------------
nvmecuse-vm-tool timed-read $KN 65536 >$T/kernel.inflight 2>&1 &
KREAD=$!
nvmecuse-vm-tool timed-read $DEV/nvme0n1 65536 >$T/ours.inflight 2>&1 &
UREAD=$!
sleep 1
if [ ! -s $T/kernel.inflight ] && [ ! -s $T/ours.inflight ]; then
  pass "a 64 KiB read waits at the target on both hosts"
else
  fail "a 64 KiB read waits at the target on both hosts" \
    "kernel: $(cat $T/kernel.inflight)" "ours: $(cat $T/ours.inflight)"
fi

# --- the subsystem leaves the port ------------------------------------------------------
rm $cfg/ports/1/subsystems/$nqn
i=0
while [ $i -lt 100 ] && { kill -0 $KREAD 2>/dev/null || kill -0 $UREAD 2>/dev/null; }; do
  i=$((i + 1))
  sleep 0.1
done
k=$(cut -d' ' -f1 $T/kernel.inflight)
u=$(cut -d' ' -f1 $T/ours.inflight)
[ -n "$k" ] || k="kernel: still waiting"
[ -n "$u" ] || u="nvmecused: still waiting"
echo "# in flight   | kernel $(cat $T/kernel.inflight)ms | nvmecused $(cat $T/ours.inflight)ms"
expect_eq "the read in flight ends as the kernel's does" "$u" "$k"

i=0
until [ "$(cat /sys/class/nvme/$KC/state 2>/dev/null)" = connecting ] &&
  grep -q "connection lost" /tmp/nvmecused.log; do
  i=$((i + 1))
  [ $i -gt 100 ] && break
  sleep 0.1
done
expect_eq "the kernel's controller is connecting" "$(cat /sys/class/nvme/$KC/state 2>&1)" connecting
probe connecting && compare connecting

# --- past ctrl-loss-tmo ----------------------------------------------------------------------
i=0
until [ ! -e /sys/class/nvme/$KC ] && grep -q "giving up" /tmp/nvmecused.log; do
  i=$((i + 1))
  [ $i -gt $(((loss + 20) * 10)) ] && break
  sleep 0.1
done
[ ! -e /sys/class/nvme/$KC ] && pass "the kernel deleted its controller" ||
  fail "the kernel deleted its controller" "state $(cat /sys/class/nvme/$KC/state 2>&1)"
grep -q "giving up" /tmp/nvmecused.log && pass "nvmecused gave up after ctrl-loss-tmo" ||
  fail "nvmecused gave up after ctrl-loss-tmo"
i=0
until grep -q "nvme0: detached" /tmp/nvmecused.log && [ ! -e $DEV/nvme0 ]; do
  i=$((i + 1))
  [ $i -gt 50 ] && break
  sleep 0.1
done
if grep -q "controller lost" /tmp/nvmecused.log && [ ! -e $DEV/nvme0 ] && [ ! -e $DEV/nvme0n1 ] &&
  nvmecusectl list -o json | grep -q '"Devices": *\[\]'; then
  pass "nvmecused removed the lost controller and its nodes"
else
  fail "nvmecused removed the lost controller and its nodes" "$(ls $DEV 2>&1)" \
    "$(nvmecusectl list 2>&1)"
fi
probe deleted && compare deleted

exec 3>&- 4>&-
kill $KPROBE $UPROBE 2>/dev/null
finish
