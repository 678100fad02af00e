# NVMe/TCP connection loss and reconnect (issue 7), against a real nvmet-tcp
# target on 127.0.0.1:4420: nvmecused --attach with --reconnect-delay 1
# --fast-io-fail-tmo 2 --ctrl-loss-tmo 60, on two serving threads (--threads 2,
# so its I/O connections run on them), and its emulated controller beside
# it (--emulate). Taking the subsystem off the port makes nvmet drop the
# association and refuse reconnects: reads through our node then fail at
# once (EAGAIN, as the kernel host's namespace head answers; the details are
# tcp-reconnect-states.sh's), never hang, whatever --fast-io-fail-tmo says;
# the emulated controller keeps working;
# putting the subsystem back lets the daemon reconnect and reads return the
# data written before the loss. Last, a daemon started while the target is
# down keeps retrying and serves it once it answers, and goes on after a SIGHUP.
#
# By hand: tests/vm/run -- sh suites/nvme-tcp-faults.sh
. /vm/lib.sh

T=/tmp/faults
mkdir -p $T
nqn=nqn.2026-11.io.nvmecuse:faults
cfg=/sys/kernel/config/nvmet

modprobe null_blk nr_devices=1 gb=1 bs=512 memory_backed=1
if nvmet_export $nqn /dev/nullb0; then
  pass "nvmet exports a null_blk namespace on 127.0.0.1:4420"
else
  fail "nvmet exports a null_blk namespace on 127.0.0.1:4420"
  finish
  exit 1
fi

trid="trtype:tcp traddr:127.0.0.1 trsvcid:4420 subnqn:$nqn"
# Two serving threads: the NVMe/TCP controller's I/O connections are driven
# by them (lanes: one I/O queue for the owner, one per thread), and the loss
# and reconnect happen under them.
echo "--- nvmecused --emulate --attach '$trid' --threads 2" >>/tmp/nvmecused.log
nvmecused --emulate --attach "$trid" --threads 2 --nr-io-queues 3 --reconnect-delay 1 --fast-io-fail-tmo 2 \
  --ctrl-loss-tmo 60 --log-level info >>/tmp/nvmecused.log 2>&1 &
DAEMON_PID=$!
EMU=$DEV/nvme0n1
TCPN=$DEV/nvme1n1
if wait_for $EMU 300 && wait_for $TCPN 300; then
  pass "nvmecused serves the emulated controller and the NVMe/TCP one"
else
  fail "nvmecused serves the emulated controller and the NVMe/TCP one"
  finish
  exit 1
fi

# read4k NODE FILE [SECONDS]: one 4 KiB read at LBA 0, bounded in time;
# exit status 124 means it hung.
read4k() {
  timeout "${3:-10}" nvme read "$1" -s 0 -c 7 -z 4096 -d "$2" >/dev/null 2>&1
}

head -c 4096 /dev/urandom >$T/pattern
run timeout 10 nvme write $TCPN -s 0 -c 7 -z 4096 -d $T/pattern
expect_status "a 4 KiB write through the NVMe/TCP node" 0
read4k $TCPN $T/before
expect_eq "it reads back" "$?:$(cmp -s $T/pattern $T/before && echo same)" "0:same"

# --- the subsystem leaves the port: the association drops ---------------------
rm $cfg/ports/1/subsystems/$nqn
start=$(date +%s)
outcome=none
i=0
while [ $i -lt 30 ]; do
  read4k $TCPN $T/r
  rc=$?
  if [ $rc -eq 124 ]; then outcome=hung; break; fi
  if [ $rc -ne 0 ]; then outcome=failed; break; fi
  i=$((i + 1))
  sleep 0.2
done
elapsed=$(($(date +%s) - start))
expect_eq "a read fails after the loss (no hang)" "$outcome" failed
if [ "$outcome" = failed ] && [ $elapsed -le 5 ]; then
  pass "as soon as the loss is seen (${elapsed} s measured)"
else
  fail "as soon as the loss is seen" "$outcome after ${elapsed} s"
fi
# Past --fast-io-fail-tmo too, reads fail at once while reconnects are refused.
sleep 3
t0=$(date +%s)
read4k $TCPN $T/r 10
rc=$?
t1=$(date +%s)
expect_eq "a read during the outage fails promptly" "$rc:$([ $((t1 - t0)) -le 5 ] && echo prompt)" \
  "1:prompt"
run timeout 10 nvme id-ctrl $DEV/nvme0
expect_status "the emulated controller answers Identify during the outage" 0
read4k $EMU $T/emu
expect_eq "the emulated namespace reads during the outage" "$?" 0
[ -c $TCPN ] && pass "the NVMe/TCP nodes stay" || fail "the NVMe/TCP nodes stay"

# --- the subsystem comes back: the daemon reconnects ---------------------------
ln -s $cfg/subsystems/$nqn $cfg/ports/1/subsystems/$nqn
ok=0
i=0
while [ $i -lt 60 ]; do
  if read4k $TCPN $T/after; then ok=1; break; fi
  i=$((i + 1))
  sleep 0.5
done
expect_eq "reads succeed again after the reconnect" $ok 1
cmp -s $T/pattern $T/after
expect_eq "the data written before the loss is intact" "$?" 0
read4k $EMU $T/emu
expect_eq "the emulated namespace still reads" "$?" 0
if grep -q "reconnected after" /tmp/nvmecused.log; then
  pass "the daemon logs the reconnect"
else
  fail "the daemon logs the reconnect"
fi

# --- a target down at start: the daemon starts and attaches it later -------------
stop_daemon
rm $cfg/ports/1/subsystems/$nqn
echo "--- nvmecused --attach '$trid' (target down at start)" >>/tmp/nvmecused.log
nvmecused --attach "$trid" --reconnect-delay 1 --ctrl-loss-tmo 60 --log-level info \
  >>/tmp/nvmecused.log 2>&1 &
DAEMON_PID=$!
sleep 2
if kill -0 $DAEMON_PID 2>/dev/null; then
  pass "a target down at start does not stop the daemon"
else
  fail "a target down at start does not stop the daemon"
fi
i=0 # (a sanitizer build takes longer to get there)
until grep -q "retrying every 1 s, at most 60 times" /tmp/nvmecused.log || [ $i -ge 100 ]; do
  i=$((i + 1))
  sleep 0.1
done
if grep -q "retrying every 1 s, at most 60 times" /tmp/nvmecused.log; then
  pass "the daemon says it retries, and how long"
else
  fail "the daemon says it retries, and how long"
fi
ln -s $cfg/subsystems/$nqn $cfg/ports/1/subsystems/$nqn
if wait_for $DEV/nvme0n1 100; then
  pass "it attaches the target once it answers"
  read4k $DEV/nvme0n1 $T/late
  cmp -s $T/pattern $T/late
  expect_eq "and reads the data written before" "$?" 0
else
  fail "it attaches the target once it answers" "$(ls $DEV 2>&1)"
fi

# --- SIGHUP without --json: logged, and the daemon goes on serving --------------
kill -HUP $DAEMON_PID
sleep 1
if kill -0 $DAEMON_PID 2>/dev/null && read4k $DEV/nvme0n1 $T/hup; then
  pass "SIGHUP does not stop the daemon"
else
  fail "SIGHUP does not stop the daemon"
fi
if grep -q "SIGHUP: no --json file to read again" /tmp/nvmecused.log; then
  pass "the daemon logs the SIGHUP"
else
  fail "the daemon logs the SIGHUP"
fi

finish
