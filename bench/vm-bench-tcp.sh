#!/bin/sh
# Runs inside the test guest (bench/run-vm-tcp puts it there): nvmecuse-perf
# through two hosts of one Linux nvmet-tcp subsystem on 127.0.0.1:4420
# (a memory-backed null_blk namespace), side by side on the same guest:
#   kernel  the kernel's own NVMe/TCP host, its passthrough node /dev/ngXn1
#   ours    nvmecused --attach, /dev/nvmecuse/nvme0n1 (CUSE, fast path)
#   floor   cuse-floor: a CUSE server answering with no work (the round trip)
# and prints IOPS, mean latency and the ratios of the two, beside the bound
# any CUSE server meets here: (kernel host + floor) / kernel host latency.
# Usage: vm-bench-tcp.sh [SECONDS_PER_RUN [ROUNDS [NVMECUSED_ARGS...]]]: each
# cell is the median of ROUNDS runs (default 3), one round after the other.
set -u
secs=${1:-2}
rounds=${2:-3}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] && shift
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
. /vm/lib.sh

tcp_host_pair nqn.2026-11.io.nvmecuse:bench "$@" || { echo "vm-bench-tcp: setup failed"; exit 1; }
cuse-floor --name floor0n1 &
wait_for /dev/nvmecuse/floor0n1 || { echo "vm-bench-tcp: no floor device"; exit 1; }
dev_floor=/dev/nvmecuse/floor0n1
results=/tmp/results
size=256m
: >$results

. /usr/bin/vm-measure.sh

run_workloads "kernel ours floor" \
  "randread-4k-1t:--rw randread --bs 4k --threads 1" \
  "randread-4k-4t:--rw randread --bs 4k --threads 4" \
  "randwrite-4k-1t:--rw randwrite --bs 4k --threads 1" \
  "read-128k-1t:--rw read --bs 128k --threads 1" \
  "read-1m-1t:--rw read --bs 1m --threads 1"

medians $results >/tmp/medians
echo
echo "IOPS (mean latency in us), medians of $rounds rounds of $secs s; ratios: ours/kernel latency and"
echo "IOPS, and the CUSE bound: (kernel + floor) / kernel latency, what a server doing no work would get"
awk '
  { iops[$1, $2] = $3; lat[$1, $2] = $4; if (!($1 in seen)) { seen[$1] = 1; order[n++] = $1 } }
  function cell(w, d) { return lat[w, d] == "-" ? iops[w, d] : sprintf("%s (%s)", iops[w, d], lat[w, d]) }
  function ratio(a, b) { return (a + 0 > 0 && b + 0 > 0) ? sprintf("%.2f", a / b) : "-" }
  END {
    printf "%-16s %-18s %-18s %-18s %10s %10s %10s\n", "workload", "kernel", "ours", "floor", "lat ratio", "IOPS ratio", "bound"
    for (i = 0; i < n; i++) {
      w = order[i]
      printf "%-16s %-18s %-18s %-18s %10s %10s %10s\n", w, cell(w, "kernel"), cell(w, "ours"), cell(w, "floor"),
        ratio(lat[w, "ours"], lat[w, "kernel"]), ratio(iops[w, "ours"], iops[w, "kernel"]),
        ratio(lat[w, "kernel"] + lat[w, "floor"], lat[w, "kernel"])
    }
  }' /tmp/medians
if grep -qE 'Sanitizer|runtime error:' /tmp/nvmecused.log; then cat /tmp/nvmecused.log; fi
