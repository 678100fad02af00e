#!/bin/sh
# Runs inside the test guest (bench/profile-vm-tcp puts it there): where one
# synchronous 4 KiB read through NVMe/TCP waits, for the kernel's own host
# and for nvmecused --attach against the same nvmet-tcp target, with
# `perf sched` (every context switch and wake-up of the guest): the per-task
# run-time summary, then an excerpt of the timeline with wake-ups.
# Usage: vm-profile-tcp.sh [SECONDS]
set -u
secs=${1:-2}
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
. /vm/lib.sh
mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null
mount -t debugfs nodev /sys/kernel/debug 2>/dev/null

tcp_host_pair nqn.2026-11.io.nvmecuse:profile || { echo "vm-profile-tcp: setup failed"; exit 1; }

args="--size 64m --rw randread --bs 4k --threads 1"
for dev in $dev_kernel $dev_ours; do
  # shellcheck disable=SC2086
  nvmecuse-perf $dev --time 1 $args >/dev/null
  echo "=== $dev: nvmecuse-perf $args"
  # shellcheck disable=SC2086
  perf sched record -q -o /tmp/sched.data -- nvmecuse-perf $dev --time "$secs" $args 2>&1 |
    grep -E 'IOPS|latency' | head -3
  echo "--- run time per task"
  perf sched timehist -i /tmp/sched.data -s 2>/dev/null | sed -n '/Runtime summary/,$p' | head -40
  echo "--- timeline excerpt (wait, scheduling delay, run time in ms; wake-ups)"
  perf sched timehist -i /tmp/sched.data -w 2>/dev/null | sed -n '2000,2060p'
done
