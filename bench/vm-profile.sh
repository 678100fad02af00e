#!/bin/sh
# Runs inside the test guest (bench/profile-vm puts it there): where the time
# of one synchronous 4 KiB read goes, for the CUSE floor device and for
# nvmecused's fast path, with perf sampling the whole guest (cpu-clock, all
# CPUs, kernel and user) while nvmecuse-perf runs. Prints per-thread and
# per-symbol shares.
# Usage: vm-profile.sh [SECONDS] [PERF_ARGS...]
set -u
secs=${1:-3}
[ $# -gt 0 ] && shift
args=${*:---rw randread --bs 4k --threads 1}
export PATH=/usr/sbin:/usr/bin:/sbin:/bin

cuse-floor --name floor0n1 &
nvmecused --emulate --log-level warn &
i=0
until [ -c /dev/nvmecuse/floor0n1 ] && [ -c /dev/nvmecuse/nvme0n1 ]; do
  i=$((i + 1))
  [ $i -gt 100 ] && { echo "vm-profile: devices missing"; exit 1; }
  sleep 0.1
done

for d in floor0n1 nvme0n1; do
  dev=/dev/nvmecuse/$d
  # shellcheck disable=SC2086
  nvmecuse-perf "$dev" --time 1 --size 64m $args >/dev/null
  echo "=== $d: nvmecuse-perf $args"
  # shellcheck disable=SC2086
  perf record -q -a -g -e cpu-clock -F 4000 -o /tmp/$d.data -- \
    nvmecuse-perf "$dev" --time "$secs" --size 64m $args 2>&1 | grep -E 'IOPS|lat|cpu' | head -5
  echo "--- by thread"
  perf report -q -i /tmp/$d.data --stdio --no-children --sort comm 2>/dev/null | head -12
  echo "--- by symbol (top 45)"
  perf report -q -i /tmp/$d.data --stdio --no-children --sort comm,sym -g none 2>/dev/null |
    grep -v '^$' | head -45
done
