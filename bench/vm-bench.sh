#!/bin/sh
# Runs inside the test guest (bench/run-vm puts it there): the same
# nvmecuse-perf workloads, one after the other on one guest, against
#   floor   cuse-floor: a CUSE server answering with no work (the round trip)
#   copy    cuse-floor --deliver: the round trip and the data moved into or
#           out of the caller (process_vm_*), as any CUSE server must
#   fast    nvmecused, process_vm fast path, nodes served on the controller's
#           owner thread (the default)
#   thr2    the same on two serving threads with a queue pair each (--threads 2)
#   retry   nvmecused --retry-only: the CUSE retry protocol, as SPDK's design
#   kernel  the kernel NVMe driver's passthrough on QEMU's NVMe device (/dev/ng0n1)
# and prints one table of IOPS and mean latency with the ratios that matter.
# Usage: vm-bench.sh [SECONDS_PER_RUN [ROUNDS [WORKLOADS]]]: each cell is the
# median of ROUNDS runs (default 3), the rounds one after the other; only the
# workloads whose names match the extended regular expression WORKLOADS run.
set -u
secs=${1:-2}
rounds=${2:-3}
only=${3:-.}
export PATH=/usr/sbin:/usr/bin:/sbin:/bin

cuse-floor --name floor0n1 &
cuse-floor --name copy0n1 --deliver &
nvmecused --emulate --log-level warn &
sleep 0.5
nvmecused --emulate --retry-only --log-level warn &
sleep 0.5
nvmecused --emulate --threads 2 --log-level warn &
modprobe nvme
i=0
until [ -c /dev/nvmecuse/floor0n1 ] && [ -c /dev/nvmecuse/copy0n1 ] && [ -c /dev/nvmecuse/nvme0n1 ] && [ -c /dev/nvmecuse/nvme1n1 ] && [ -c /dev/nvmecuse/nvme2n1 ] && [ -c /dev/ng0n1 ]; do
  i=$((i + 1))
  if [ $i -gt 100 ]; then echo "vm-bench: devices missing"; ls /dev/nvmecuse /dev/ng* ; exit 1; fi
  sleep 0.1
done
dev_floor=/dev/nvmecuse/floor0n1
dev_copy=/dev/nvmecuse/copy0n1
dev_fast=/dev/nvmecuse/nvme0n1
dev_retry=/dev/nvmecuse/nvme1n1
dev_thr2=/dev/nvmecuse/nvme2n1
dev_kernel=/dev/ng0n1
results=/tmp/results
: >$results

. /usr/bin/vm-measure.sh

run_workloads "floor copy fast thr2 retry kernel" \
  "randread-4k-1t:--rw randread --bs 4k --threads 1" \
  "randread-4k-2t:--rw randread --bs 4k --threads 2" \
  "randread-4k-4t:--rw randread --bs 4k --threads 4" \
  "randread-4k-8t:--rw randread --bs 4k --threads 8" \
  "randwrite-4k-1t:--rw randwrite --bs 4k --threads 1" \
  "randwrite-4k-2t:--rw randwrite --bs 4k --threads 2" \
  "randwrite-4k-4t:--rw randwrite --bs 4k --threads 4" \
  "randwrite-4k-8t:--rw randwrite --bs 4k --threads 8" \
  "read-128k-1t:--rw read --bs 128k --threads 1" \
  "read-1m-1t:--rw read --bs 1m --threads 1" \
  "write-1m-1t:--rw write --bs 1m --threads 1" \
  "identify-1t:--ioctl admin-identify --threads 1"

medians $results >/tmp/medians
echo
echo "IOPS (mean latency in us) per device, medians of $rounds rounds of $secs s; ratios: fast/floor, fast/copy and retry/fast latency, fast/kernel IOPS"
awk '
  { iops[$1, $2] = $3; lat[$1, $2] = $4; if (!($1 in seen)) { seen[$1] = 1; order[n++] = $1 } }
  function cell(w, d) { return lat[w, d] == "-" ? iops[w, d] : sprintf("%s (%s)", iops[w, d], lat[w, d]) }
  function ratio(a, b) { return (a + 0 > 0 && b + 0 > 0) ? sprintf("%.2f", a / b) : "-" }
  END {
    printf "%-16s %-16s %-16s %-16s %-16s %-16s %-16s %9s %9s %9s %9s\n", "workload", "floor", "copy", "fast", "thr2", "retry", "kernel", "fast/flr", "fast/cpy", "retry/fst", "fast/krn"
    for (i = 0; i < n; i++) {
      w = order[i]
      printf "%-16s %-16s %-16s %-16s %-16s %-16s %-16s %9s %9s %9s %9s\n", w, cell(w, "floor"), cell(w, "copy"), cell(w, "fast"), cell(w, "thr2"), cell(w, "retry"), cell(w, "kernel"),
        ratio(lat[w, "fast"], lat[w, "floor"]), ratio(lat[w, "fast"], lat[w, "copy"]), ratio(lat[w, "retry"], lat[w, "fast"]), ratio(iops[w, "fast"], iops[w, "kernel"])
    }
    # Scaling, and its bound here: a server whose work cost nothing at
    # 4 threads would reach the floor'"'"'s 4-thread IOPS, so with our 1-thread
    # IOPS no server could show more than floor(4t) / fast(1t).
    print ""
    for (k = 0; k < 2; k++) {
      rw = k ? "randwrite" : "randread"; one = rw "-4k-1t"; four = rw "-4k-4t"
      printf "%-9s 4 / 1 thread IOPS: fast %s, thr2 %s, floor %s, copy %s, kernel %s; bound for fast (floor 4t / fast 1t) %s\n", rw,
        ratio(iops[four, "fast"], iops[one, "fast"]), ratio(iops[four, "thr2"], iops[one, "thr2"]),
        ratio(iops[four, "floor"], iops[one, "floor"]), ratio(iops[four, "copy"], iops[one, "copy"]),
        ratio(iops[four, "kernel"], iops[one, "kernel"]), ratio(iops[four, "floor"], iops[one, "fast"])
    }
  }' /tmp/medians
