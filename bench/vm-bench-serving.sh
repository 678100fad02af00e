#!/bin/sh
# Runs inside the test guest (bench/run-vm-serving puts it there): the ways
# nvmecused can serve its nodes, side by side on one guest, 4 KiB random I/O
# on the emulated controller:
#   floor   cuse-floor: a CUSE server answering with no work (the round trip)
#   fast    every node on its controller's owner thread (--threads 0, default)
#   fastnp  the same, never polling before it sleeps (--poll-us 0)
#   thr2    two serving threads with a queue pair each (--threads 2)
#   thr2np  the same, never polling (--threads 2 --poll-us 0)
# Usage: vm-bench-serving.sh [SECONDS_PER_RUN [ROUNDS [WORKLOADS]]] (as vm-bench.sh)
set -u
secs=${1:-2}
rounds=${2:-3}
only=${3:-.}
export PATH=/usr/sbin:/usr/bin:/sbin:/bin

cuse-floor --name floor0n1 &
# One after the other: each takes the next controller index.
n=0
for args in "" "--threads 2" "--threads 2 --poll-us 0" "--poll-us 0"; do
  # shellcheck disable=SC2086
  nvmecused --emulate $args --log-level warn --rpc-socket /run/bench$n.sock &
  n=$((n + 1))
  sleep 0.5
done
i=0
until [ -c /dev/nvmecuse/floor0n1 ] && [ -c /dev/nvmecuse/nvme3n1 ]; do
  i=$((i + 1))
  if [ $i -gt 100 ]; then echo "vm-bench-serving: devices missing"; ls /dev/nvmecuse; exit 1; fi
  sleep 0.1
done
dev_floor=/dev/nvmecuse/floor0n1
dev_fast=/dev/nvmecuse/nvme0n1
dev_thr2=/dev/nvmecuse/nvme1n1
dev_thr2np=/dev/nvmecuse/nvme2n1
dev_fastnp=/dev/nvmecuse/nvme3n1
results=/tmp/results
: >$results

. /usr/bin/vm-measure.sh

run_workloads "floor fast fastnp thr2 thr2np" \
  "randread-4k-1t:--rw randread --bs 4k --threads 1" \
  "randread-4k-2t:--rw randread --bs 4k --threads 2" \
  "randread-4k-4t:--rw randread --bs 4k --threads 4" \
  "randwrite-4k-1t:--rw randwrite --bs 4k --threads 1" \
  "randwrite-4k-4t:--rw randwrite --bs 4k --threads 4"

echo
echo "IOPS and mean latency in us per device, medians of $rounds rounds of $secs s:"
medians $results

# What the serving threads did over all the runs above, per request served
# (the serving_threads RPC): sleeps, sleeps that ended with nothing to do,
# epoll events whose read found no request (another thread took it), and
# sched_yield calls while polling.
echo
echo "serving threads, per request: sleeps idle-wake-ups empty-events yields (requests)"
for pair in thr2:1 thr2np:2; do
  nvmecusectl -S /run/bench${pair#*:}.sock call serving_threads | jq -r --arg l "${pair%%:*}" '
    (map(.handled) | add) as $n | if $n == 0 then "\($l): no requests" else
    "\($l): " + ([map(.sleeps), map(.idle_wakeups), map(.empty_events), map(.yields)]
      | map(add / $n * 100 | round / 100 | tostring) | join(" ")) + " (\($n): "
      + (map(.handled | tostring) | join(" + ")) + ")" end'
done
