#!/bin/sh
# The main job's demonstration, the same on a host with CUSE and inside the
# test guest (POSIX sh, busybox-compatible): starts nvmecused on its built-in
# emulated controller, lists its devices the way `nvme list` lists the
# kernel's, prints `nvme id-ctrl`, writes and reads back 1 MiB with nvme-cli,
# prints `nvme smart-log`, and stops the daemon. Exits non-zero on any failure.
# Usage: main-job.sh NVMECUSED [DAEMON_ARGS...]
set -u
daemon=$1
shift
dir=/dev/nvmecuse
work=$(mktemp -d)
log=$work/nvmecused.log

"$daemon" --emulate --log-level warn "$@" >"$log" 2>&1 &
pid=$!
stop() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  fi
  rm -rf "$work"
}
fail() {
  echo "main job: $*" >&2
  sed 's/^/nvmecused: /' "$log" >&2
  stop
  exit 1
}
i=0
until [ -c $dir/nvme0 ] && [ -c $dir/nvme0n1 ]; do
  i=$((i + 1))
  [ $i -le 100 ] || fail "the daemon's devices did not appear in $dir"
  kill -0 "$pid" 2>/dev/null || fail "nvmecused exited"
  sleep 0.1
done

echo "\$ nvmecused --emulate    # serving $(cd $dir && echo nvme*)"
echo
echo "Devices (the 'nvme list' layout; nvme list itself only scans the kernel's nvme class):"
ctrl=$(nvme id-ctrl $dir/nvme0 -o json) || fail "nvme id-ctrl failed"
row='%-22s %-20s %-28s %-9s %-10s %-7s %s\n'
printf "$row" Node SN Model Namespace Size Format FW
printf "$row" ---------------------- -------------------- ---------------------------- \
  --------- ---------- ------- --------
for node in $dir/nvme0n*; do
  ns=$(nvme id-ns "$node" -o json) || fail "nvme id-ns $node failed"
  nsid=$(nvme get-ns-id "$node" | awk -F: '{print $NF}' | tr -d ' ')
  fields=$(echo "$ctrl" "$ns" | jq -rs '
    .[0] as $c | .[1] as $n | pow(2; $n.lbafs[$n.flbas % 16].ds) as $lba |
    [($c.sn | sub(" +$"; "")), ($c.mn | sub(" +$"; "") | gsub(" "; "_")),
     "\(($n.nsze * $lba / 1e9 * 100 | round) / 100)_GB", "\($lba)_B", ($c.fr | sub(" +$"; ""))] |
    join(" ")') || fail "reading the identify data failed"
  set -- $fields
  printf "$row" "$node" "$1" "$(echo "$2" | tr _ ' ')" "$nsid" "$(echo "$3" | tr _ ' ')" \
    "$(echo "$4" | tr _ ' ')" "$5"
done

echo
echo "\$ nvme id-ctrl $dir/nvme0"
nvme id-ctrl $dir/nvme0 || fail "nvme id-ctrl failed"

echo
echo "\$ nvme write / nvme read $dir/nvme0n1, 1 MiB at LBA 0, compared byte for byte"
dd if=/dev/urandom of="$work/out" bs=1024 count=1024 2>/dev/null
nvme write $dir/nvme0n1 --start-block=0 --block-count=2047 --data-size=1048576 --data="$work/out" ||
  fail "nvme write failed"
nvme read $dir/nvme0n1 --start-block=0 --block-count=2047 --data-size=1048576 --data="$work/in" ||
  fail "nvme read failed"
cmp "$work/out" "$work/in" || fail "the data read back differs from the data written"
echo "1 MiB read back identical"

echo
echo "\$ nvme smart-log $dir/nvme0"
nvme smart-log $dir/nvme0 || fail "nvme smart-log failed"

kill "$pid"
if ! wait "$pid"; then
  pid=""
  fail "nvmecused did not stop cleanly on SIGTERM"
fi
rm -rf "$work"
