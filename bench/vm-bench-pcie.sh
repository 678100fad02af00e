#!/bin/sh
# Runs inside the test guest (bench/run-vm-pcie puts it there): nvmecuse-perf
# on QEMU's NVMe device through
#   kernel  the kernel nvme driver's passthrough node (/dev/ngXn1)
#   ours    nvmecused --attach trtype:pcie once the function is bound to
#           vfio-pci (/dev/nvmecuse/nvme0n1, CUSE, fast path)
#   floor   cuse-floor: a CUSE server answering with no work (the round trip)
#   copy    cuse-floor --deliver: the round trip and the data moved into or
#           out of the caller (process_vm_*), as any CUSE server must
# The function has one driver at a time: each round measures the kernel's
# node and the floor, hands the function to vfio-pci and measures ours, then
# gives it back. Prints IOPS and mean latency, ours against the bound any
# CUSE server in front of this device meets (kernel + floor latency), and
# against the bound of one that moves the data (kernel + copy latency), and
# the 4-thread scaling of ours against the kernel's.
# Usage: vm-bench-pcie.sh [SECONDS_PER_RUN [ROUNDS [NVMECUSED_ARGS...]]]
set -u
secs=${1:-2}
total_rounds=${2:-3}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] && shift
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
. /vm/lib.sh

bdf=$(nvme_pci_function)
modprobe nvme && modprobe vfio_iommu_type1 && modprobe vfio-pci || { echo "vm-bench-pcie: modules"; exit 1; }
kernel_blk "$bdf" || { echo "vm-bench-pcie: the nvme driver has no namespace on '$bdf'"; exit 1; }
cuse-floor --name floor0n1 &
wait_for /dev/nvmecuse/floor0n1 || { echo "vm-bench-pcie: no floor device"; exit 1; }
dev_floor=/dev/nvmecuse/floor0n1
cuse-floor --name copy0n1 --deliver &
wait_for /dev/nvmecuse/copy0n1 || { echo "vm-bench-pcie: no copying floor device"; exit 1; }
dev_copy=/dev/nvmecuse/copy0n1
dev_ours=$DEV/nvme0n1
results=/tmp/results
size=32m # within the 64 MiB namespace
rounds=1 # run_workloads: one round per call, the rounds are the loop below
: >$results

. /usr/bin/vm-measure.sh

workloads() { # LABELS
  run_workloads "$1" \
    "randread-4k-1t:--rw randread --bs 4k --threads 1" \
    "randread-4k-4t:--rw randread --bs 4k --threads 4" \
    "randwrite-4k-1t:--rw randwrite --bs 4k --threads 1" \
    "randwrite-4k-4t:--rw randwrite --bs 4k --threads 4" \
    "read-128k-1t:--rw read --bs 128k --threads 1" \
    "read-1m-1t:--rw read --bs 1m --threads 1"
}

pass=1
while [ $pass -le "$total_rounds" ]; do
  # (after a give-back the nvme driver probes the function again)
  for _ in $(seq 100); do ls /dev/ng*n1 >/dev/null 2>&1 && break; sleep 0.1; done
  dev_kernel=$(ls /dev/ng*n1 | head -1)
  workloads "kernel floor copy"
  nvmecusectl bind "$bdf" >/dev/null || { echo "vm-bench-pcie: nvmecusectl bind $bdf failed"; exit 1; }
  nvmecused --attach "trtype:pcie traddr:$bdf" --log-level warn "$@" >>/tmp/nvmecused.log 2>&1 &
  pid=$!
  wait_for $dev_ours 300 || { echo "vm-bench-pcie: nvmecused serves no namespace"; cat /tmp/nvmecused.log; exit 1; }
  workloads "ours"
  kill -TERM $pid
  wait $pid
  nvmecusectl give-back "$bdf" >/dev/null || { echo "vm-bench-pcie: the nvme driver did not take the function back"; exit 1; }
  echo "vm-bench-pcie: pass $pass of $total_rounds done" >&2
  pass=$((pass + 1))
done

medians $results >/tmp/medians
echo
echo "IOPS (mean latency in us), medians of $total_rounds rounds of $secs s; bound: kernel + floor latency,"
echo "what a CUSE server doing no work in front of the kernel's driver would get; goal: ours <= 1.15 x bound;"
echo "data bound: kernel + copy latency, what one that moves the data (process_vm_*) would get"
awk "$table_awk"'
  END {
    printf "%-16s %-17s %-17s %-17s %-17s %8s %8s %9s %8s %8s\n", "workload", "kernel", "ours", "floor", "copy",
      "bound", "ours/bnd", "dbound", "ours/dbd", "ours/krn"
    for (i = 0; i < n; i++) {
      w = order[i]
      # no bound where the kernel driver or the floor has no figure
      bound = (lat[w, "kernel"] + 0 > 0 && lat[w, "floor"] + 0 > 0) ? lat[w, "kernel"] + lat[w, "floor"] : 0
      dbound = (lat[w, "kernel"] + 0 > 0 && lat[w, "copy"] + 0 > 0) ? lat[w, "kernel"] + lat[w, "copy"] : 0
      printf "%-16s %-17s %-17s %-17s %-17s %8s %8s %9s %8s %8s\n", w, cell(w, "kernel"), cell(w, "ours"), cell(w, "floor"),
        cell(w, "copy"), bound ? sprintf("%.1f", bound) : "-", ratio(lat[w, "ours"], bound),
        dbound ? sprintf("%.1f", dbound) : "-", ratio(lat[w, "ours"], dbound), ratio(iops[w, "ours"], iops[w, "kernel"])
    }
    # Goal: our 4-thread scaling at least 0.9 x the kernel driver'"'"'s.
    print ""
    for (k = 0; k < 2; k++) {
      rw = k ? "randwrite" : "randread"; one = rw "-4k-1t"; four = rw "-4k-4t"
      printf "%-9s 4 / 1 thread IOPS: ours %s, kernel %s, floor %s, copy %s; ours / kernel scaling %s\n", rw,
        ratio(iops[four, "ours"], iops[one, "ours"]), ratio(iops[four, "kernel"], iops[one, "kernel"]),
        ratio(iops[four, "floor"], iops[one, "floor"]), ratio(iops[four, "copy"], iops[one, "copy"]),
        ratio(ratio(iops[four, "ours"], iops[one, "ours"]), ratio(iops[four, "kernel"], iops[one, "kernel"]))
    }
  }' /tmp/medians
if grep -qE 'Sanitizer|runtime error:|\[error\]' /tmp/nvmecused.log; then cat /tmp/nvmecused.log; fi
