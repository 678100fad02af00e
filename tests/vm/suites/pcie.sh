# nvmecused drives QEMU's NVMe device through VFIO (--attach trtype:pcie):
# nvmecusectl bind refuses it while a namespace is swap, and nvmecused
# refuses it, with the way out named, while the kernel's nvme driver holds
# it; then bound to vfio-pci by nvmecusectl bind, enabled by nvmecused, served to nvme-cli and
# smartctl, data crossing in both directions between the two drivers;
# given back to the kernel's nvme driver, which reads what nvmecused wrote;
# the same nvme-cli and smartctl commands answered alike by both drivers;
# SIGKILLed under load and started again on the controller it left enabled;
# a detached namespace attached and detached through its node; given back
# to the kernel's nvme driver by nvmecusectl give-back, which reads what
# nvmecused wrote and nvme list shows again; and served again, then removed
# from the bus under a reader.
. /vm/lib.sh

bdf=$(nvme_pci_function)
[ -n "$bdf" ] || { fail "an NVMe PCI function is present"; finish; exit 1; }
pass "an NVMe PCI function is present ($bdf)"
sysdev=/sys/bus/pci/devices/$bdf

# --- the kernel driver writes first ----------------------------------------
modprobe nvme
kernel_blk $bdf
blk=$KERNEL_BLK

# --- the differential: the kernel driver's answers first ---------------------
# The same nvme-cli 2.3 and smartctl 7.3 commands through the kernel
# driver's nodes now, through nvmecused's after the rebind; each line is
# NAME|EXPECTED EXIT STATUS ("any": the same for both)|COMMAND (with $C the
# controller node, $N the namespace node).
T=/tmp/diff
mkdir -p $T
cat >$T/commands <<'END'
id-ctrl|0|nvme id-ctrl $C
id-ctrl -H|0|nvme id-ctrl -H $C
id-ctrl -o json|0|nvme id-ctrl -o json $C
id-ctrl on the namespace node|0|nvme id-ctrl $N
id-ns|0|nvme id-ns $N
id-ns -H|0|nvme id-ns -H $N
id-ns -n 1 on the controller|0|nvme id-ns -n 1 $C
id-ns of the detached nsid 2|any|nvme id-ns -n 2 $C
id-ns -o json|0|nvme id-ns -o json $N
list-ns|0|nvme list-ns $C
list-ns --all (CNS 10h)|any|nvme list-ns --all $C
list-ctrl (CNS 13h)|any|nvme list-ctrl $C
ns-descs|any|nvme ns-descs $N
smart-log|0|nvme smart-log $C
smart-log -o json|0|nvme smart-log -o json $C
fw-log|0|nvme fw-log $C
error-log|0|nvme error-log $C -e 4
get-log effects (05h) raw|0|nvme get-log $C --log-id=5 --log-len=4096
get-log firmware slot (03h) raw|0|nvme get-log $C --log-id=3 --log-len=512
get-log unsupported LID (C0h)|any|nvme get-log $C --log-id=0xc0 --log-len=512
get-feature arbitration|any|nvme get-feature $C -f 1
get-feature power management|any|nvme get-feature $C -f 2
get-feature temperature threshold|any|nvme get-feature $C -f 4
get-feature error recovery|any|nvme get-feature $N -f 5
get-feature volatile write cache|any|nvme get-feature $C -f 6
get-feature number of queues|any|nvme get-feature $C -f 7 -H
get-feature interrupt coalescing|any|nvme get-feature $C -f 8
get-feature write atomicity|any|nvme get-feature $C -f 10
get-feature unsupported (80h)|any|nvme get-feature $C -f 0x80
create-ns|any|nvme create-ns $C --nsze=0x1000 --ncap=0x1000 --flbas=0
delete-ns of a nsid that does not exist|any|nvme delete-ns $C -n 9
read of LBA 0-7|0|nvme read $N -s 0 -c 7 -z 4096 | od -A x -t x1 | md5sum
smartctl -a|any|smartctl -a $C
smartctl -x|any|smartctl -x $C
smartctl -H|any|smartctl -H $C
smartctl -l error|any|smartctl -l error $C
END

# record SIDE CONTROLLER NAMESPACE: every command's output and exit status.
record() {
  i=0
  while IFS='|' read -r name expected cmd; do
    i=$((i + 1))
    C=$2 N=$3
    eval "$cmd" >$T/$1.$i 2>&1 </dev/null
    echo $? >$T/$1.$i.rc
  done <$T/commands
}

# mask: device names, and the counters that move between the two runs (I/O
# happens in between, time passes).
mask() {
  sed -E \
    -e 's#(/dev/)?(nvmecuse/)?(nvme|ng)[0-9]+(c[0-9]+)?(n[0-9]+)?#DEV#g' \
    -e 's/^(data_units_(read|written)|host_(read|write)_commands|power_on_hours|controller_busy_time)([[:space:]]*:).*/\1\5 MASKED/' \
    -e 's/("(data_units_(read|written)|host_(read|write)_commands|power_on_hours|controller_busy_time)" *: *)"?[0-9.e+]+"?/\1MASKED/' \
    -e 's/^(Data Units (Read|Written)|Host (Read|Write) Commands|Power On Hours|Controller Busy Time|Local Time is):.*/\1: MASKED/'
}

# compare: the kernel driver's exit status as expected, nvmecused's the
# same, the masked outputs identical.
compare() {
  i=0
  while IFS='|' read -r name expected cmd; do
    i=$((i + 1))
    ks=$(cat $T/kernel.$i.rc) us=$(cat $T/ours.$i.rc)
    mask <$T/kernel.$i >$T/kernel.$i.m
    mask <$T/ours.$i >$T/ours.$i.m
    if [ "$expected" != any ] && [ "$ks" -ne "$expected" ]; then
      fail "both drivers: $name" "the kernel driver's exit status is $ks, expected $expected"
      head -10 $T/kernel.$i | sed 's/^/#   | /'
    elif [ "$ks" -ne "$us" ]; then
      fail "both drivers: $name" "exit status: kernel driver $ks, nvmecused $us"
      head -10 $T/ours.$i | sed 's/^/#   | /'
    elif ! cmp -s $T/kernel.$i.m $T/ours.$i.m; then
      fail "both drivers: $name" "the outputs differ (- kernel driver, + nvmecused, masked):"
      diff -u $T/kernel.$i.m $T/ours.$i.m | tail -n +3 | head -20 | sed 's/^/#   /'
    elif [ ! -s $T/kernel.$i ]; then
      fail "both drivers: $name" "no output at all"
    else
      pass "both drivers: $name (exit $ks)"
    fi
  done <$T/commands
}

kc=/dev/$(basename $sysdev/nvme/nvme*)
kn=$(ls /dev/ng*n1 | head -1)
if [ -c "$kc" ] && [ -c "$kn" ]; then pass "the kernel driver's nodes: $kc $kn"
else fail "the kernel driver's nodes" "'$kc' '$kn'"; fi

# --- nvmecusectl bind refuses while a namespace is in use ------------------
# (before the kernel driver writes LBA 0: the swap signature lands there)
run nvmecuse-vm-tool as-user 65534 65534 nvmecusectl bind $bdf
expect_status "nvmecusectl bind as nobody fails (exit 4)" 4
expect_contains "it says it must run as root" "must run as root"
run nvmecusectl bind 0000:00:04
expect_status "nvmecusectl bind of a malformed address is a usage error (exit 2)" 2
expect_contains "it says what an address looks like" "'0000:00:04' is not a PCI address (0000:00:04.0)"
if mkswap $blk >/dev/null 2>&1 && swapon $blk; then
  run nvmecusectl bind $bdf
  expect_status "nvmecusectl bind refuses a namespace that is active swap (exit 1)" 1
  expect_contains "it names the swap and the way out" "$bdf: $blk is active swap; swapoff $blk first"
  swapoff $blk
else
  fail "mkswap and swapon on $blk"
fi
run readlink $sysdev/driver
expect_match "the nvme driver still holds the function" '/nvme$'

dd if=/dev/urandom of=/tmp/kernel-wrote bs=4096 count=32 2>/dev/null
run dd if=/tmp/kernel-wrote of=$blk bs=4096 count=32 oflag=direct
expect_status "the kernel driver writes 128 KiB at LBA 0 ($blk)" 0
record kernel $kc $kn

# --- refused while the kernel driver holds it ------------------------------
run timeout 20 nvmecused --attach "trtype:pcie traddr:$bdf"
if [ "$STATUS" -ne 0 ]; then pass "nvmecused refuses a function bound to nvme"; else fail "nvmecused refuses a function bound to nvme"; fi
expect_contains "it names the driver" "is bound to the nvme driver"
expect_contains "it names the block devices in use" "${blk#/dev/}"
expect_match "one line names the driver, the block devices and the command that rebinds it" \
  "is bound to the nvme driver \(block devices: ${blk#/dev/}\).*nvmecusectl bind $bdf"

# --- bound to vfio-pci by nvmecusectl, served by nvmecused -----------------
# (vfio-pci is not loaded yet: nvmecusectl bind loads it)
run nvmecusectl bind $bdf
expect_status "nvmecusectl bind $bdf" 0
expect_contains "it says what it did" "$bdf: bound to vfio-pci (was nvme; nvmecusectl give-back $bdf returns it)"
run readlink $sysdev/driver
expect_match "vfio-pci owns the function" '/vfio-pci$'
run cat /run/nvmecuse/bound/$bdf
expect_eq "it records the driver the function came from" "$OUT" nvme
run nvmecusectl bind $bdf
expect_status "nvmecusectl bind again succeeds" 0
expect_contains "it says the function is on vfio-pci already" "$bdf: already bound to vfio-pci"

nvmecused --attach "trtype:pcie traddr:$bdf" --log-level info >/tmp/nvmecused.log 2>&1 &
DAEMON_PID=$!
if wait_for $DEV/nvme0n1 300; then
  pass "nvmecused enables the controller and shows its nodes"
else
  fail "nvmecused enables the controller and shows its nodes"
  sed 's/^/#   /' /tmp/nvmecused.log
  finish
  exit 1
fi
run nvmecusectl give-back $bdf
expect_status "nvmecusectl give-back refuses while nvmecused holds the function" 1
expect_contains "it names the process" "its VFIO group is open in nvmecused (pid $DAEMON_PID)"

run nvme id-ctrl $DEV/nvme0
expect_status "nvme id-ctrl through nvmecused" 0
expect_field "the serial is QEMU's device's" sn "QEMUNVME0001"
expect_field "the model is QEMU's" mn "QEMU NVMe Ctrl"
cntlid=$(field cntlid)
sgls=$(field sgls)
# QEMU's controller takes SGLs: nvmecused's I/O of 32 KiB and more below
# moves by SGL (the 64 KiB and 1 MiB transfers), smaller I/O and admin
# commands by PRP, as the kernel's driver sends them.
if [ $((sgls & 3)) -ne 0 ]; then pass "Identify SGLS $sgls: I/O of 32 KiB and more moves by SGL"
else fail "Identify SGLS $sgls: I/O of 32 KiB and more moves by SGL" "QEMU's controller reports no SGL support"; fi
run nvme id-ns $DEV/nvme0n1
expect_field "its namespace is the 64 MiB image" nsze "0x20000"

# --- the differential: nvmecused's answers ---------------------------------
record ours $DEV/nvme0 $DEV/nvme0n1
compare

rm -f /tmp/read-back
run nvme read $DEV/nvme0n1 -s 0 -c 255 -z 131072 -d /tmp/read-back
expect_status "nvme read of 128 KiB through nvmecused" 0
same "nvmecused reads what the kernel driver wrote" /tmp/kernel-wrote /tmp/read-back

dd if=/dev/urandom of=/tmp/we-wrote bs=4096 count=16 2>/dev/null
write_read_back "64 KiB at LBA 4096" $DEV/nvme0n1 $DEV/nvme0n1 4096 127 65536 /tmp/we-wrote
dd if=/dev/urandom of=/tmp/big bs=4096 count=256 2>/dev/null
write_read_back "1 MiB (MDTS-sized) at LBA 8192" $DEV/nvme0n1 $DEV/nvme0n1 8192 2047 1048576 /tmp/big

run nvme smart-log $DEV/nvme0
expect_status "nvme smart-log through nvmecused" 0
msix=$(awk '/vfio-msix/ { for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) n += $i } END { print n + 0 }' /proc/interrupts)
if [ "$msix" -gt 0 ]; then pass "its queues complete through MSI-X interrupts ($msix)"
else fail "its queues complete through MSI-X interrupts" "$(grep -i msi /proc/interrupts)"; fi
run smartctl -a $DEV/nvme0
expect_contains "smartctl reads the device through nvmecused" "QEMUNVME0001"

# --- SIGKILLed under load, started again -----------------------------------
# A writer rewrites the same 32 KiB at LBA 16384 in a loop; SIGKILL leaves
# the controller enabled with live queues and commands in flight (unless
# vfio-pci's reset on release clears it). The daemon started again takes
# it from that state; what was written before reads back intact, and so
# do the 32 KiB under load (a torn rewrite wrote the same bytes).
dd if=/dev/urandom of=/tmp/load bs=4096 count=8 2>/dev/null
echo 0 >/tmp/writes
(
  n=0
  while nvme write $DEV/nvme0n1 -s 16384 -c 63 -z 32768 -d /tmp/load >/dev/null 2>&1; do
    n=$((n + 1))
    echo $n >/tmp/writes
  done
) &
writer=$!
sleep 1
kill -KILL $DAEMON_PID
wait $DAEMON_PID 2>/dev/null
if wait_gone $DEV/nvme0 50; then pass "SIGKILL under load: the nodes go"; else fail "SIGKILL under load: the nodes go"; fi
i=0
while kill -0 $writer 2>/dev/null; do
  i=$((i + 1)); [ $i -gt 100 ] && break; sleep 0.1
done
if kill -0 $writer 2>/dev/null; then fail "the writer does not hang"; kill $writer; else pass "the writer does not hang"; fi
writes=$(cat /tmp/writes)
if [ "$writes" -gt 0 ]; then pass "the SIGKILL came under load ($writes writes before it)"
else fail "the SIGKILL came under load" "no write completed before it"; fi
echo "--- started again after SIGKILL" >>/tmp/nvmecused.log
nvmecused --attach "trtype:pcie traddr:$bdf" --log-level info >>/tmp/nvmecused.log 2>&1 &
DAEMON_PID=$!
if wait_for $DEV/nvme0n1 300; then
  pass "started again, nvmecused brings the controller back from its unclean state"
else
  fail "started again, nvmecused brings the controller back from its unclean state"
  tail -20 /tmp/nvmecused.log | sed 's/^/#   /'
  finish
  exit 1
fi
for args in "4096 127 65536 /tmp/we-wrote" "8192 2047 1048576 /tmp/big" "16384 63 32768 /tmp/load"; do
  set -- $args
  rm -f /tmp/read-back
  run nvme read $DEV/nvme0n1 -s $1 -c $2 -z $3 -d /tmp/read-back
  same "after SIGKILL: the $3 bytes at LBA $1 are intact" $4 /tmp/read-back
done

# --- namespace attach and detach through our node --------------------------
run nvme attach-ns $DEV/nvme0 --namespace-id=2 --controllers=$cntlid
expect_status "attach-ns of the detached nsid 2 (controller $cntlid)" 0
if wait_for $DEV/nvme0n2 100; then pass "its node appears"; else fail "its node appears"; fi
run nvme id-ns $DEV/nvme0n2
expect_field "it is the 16 MiB image" nsze "0x8000"
dd if=/dev/urandom of=/tmp/ns2-wrote bs=4096 count=2 2>/dev/null
write_read_back "8 KiB on the attached namespace" $DEV/nvme0n2 $DEV/nvme0n2 0 15 8192 /tmp/ns2-wrote
run nvme detach-ns $DEV/nvme0 --namespace-id=2 --controllers=$cntlid
expect_status "detach-ns of nsid 2" 0
if wait_gone $DEV/nvme0n2 100; then pass "its node goes"; else fail "its node goes"; fi
run nvme list-ns $DEV/nvme0
expect_not_contains "list-ns no longer shows nsid 2" "0x2"

kill -TERM $DAEMON_PID
wait $DAEMON_PID
expect_eq "SIGTERM: nvmecused shuts the controller down and exits 0" "$?" 0
if wait_gone $DEV/nvme0 50; then pass "its nodes are gone"; else fail "its nodes are gone"; fi

# --- given back: the kernel driver reads what nvmecused wrote ---------------
run nvmecusectl give-back $bdf
expect_status "nvmecusectl give-back $bdf" 0
expect_contains "it says what it did" "$bdf: given back to nvme (from vfio-pci)"
kernel_blk $bdf
blk=$KERNEL_BLK
run readlink $sysdev/driver
expect_match "the function is back with the nvme driver" '/nvme$'
run cat $sysdev/driver_override
expect_eq "its driver_override is cleared" "$OUT" "(null)"
run nvme list
expect_contains "the kernel's nvme list shows it again" "QEMUNVME0001"
expect_contains "with its block device" "$blk"
run nvmecusectl give-back $bdf
expect_status "nvmecusectl give-back again succeeds" 0
expect_contains "it says there is nothing to give back" "$bdf: already bound to nvme, not vfio-pci; nothing to give back"
rm -f /tmp/read-back
run dd if=$blk of=/tmp/read-back bs=512 skip=4096 count=128 iflag=direct
expect_status "the kernel driver reads LBA 4096" 0
same "the kernel driver reads what nvmecused wrote" /tmp/we-wrote /tmp/read-back

# --- removed under a reader ------------------------------------------------
# Served again, beside an emulated controller. The function is removed from
# the bus while a reader runs: vfio-pci asks nvmecused for it back
# (VFIO_PCI_REQ_IRQ_INDEX), nvmecused lets go, the removal completes, the
# reader and the node answer ENODEV, and the emulated controller goes on.
run nvmecusectl bind $bdf
expect_status "nvmecusectl bind $bdf again" 0
nvmecused --emulate --attach "trtype:pcie traddr:$bdf" --log-level info >>/tmp/nvmecused.log 2>&1 &
DAEMON_PID=$!
if wait_for $DEV/nvme0n1 300 && wait_for $DEV/nvme1n1 300; then
  pass "nvmecused serves the function again beside an emulated controller"
else
  fail "nvmecused serves the function again beside an emulated controller"
  finish
  exit 1
fi
pcie=nvme0 emu=nvme1
nvme id-ctrl $DEV/nvme1 2>/dev/null | grep -q QEMUNVME0001 && pcie=nvme1 emu=nvme0

: >/tmp/reader.log
# io-passthru, not nvme read: nvme-cli 2.3's read exits 0 without a word
# when its Identify Namespace fails.
(
  while :; do
    nvme io-passthru $DEV/${pcie}n1 --opcode=2 --namespace-id=1 --data-len=4096 --read \
      --cdw12=7 >/dev/null 2>/tmp/reader.err
    rc=$?
    echo "rc $rc: $(cat /tmp/reader.err)" >>/tmp/reader.log
    [ $rc -eq 0 ] || break
  done
) &
reader=$!
sleep 2
t0=$(date +%s)
run timeout 60 sh -c "echo 1 >$sysdev/remove"
expect_status "the function is removed under the reader" 0
elapsed=$(($(date +%s) - t0))
if [ "$elapsed" -le 15 ]; then pass "the removal completes within seconds (${elapsed} s)"
else fail "the removal completes within seconds (${elapsed} s)"; fi
if [ -e "$sysdev" ]; then fail "the function has left the bus"; else pass "the function has left the bus"; fi
i=0
while kill -0 $reader 2>/dev/null; do
  i=$((i + 1)); [ $i -gt 100 ] && break; sleep 0.1
done
if kill -0 $reader 2>/dev/null; then
  fail "the reader does not hang" "$(tail -3 /tmp/reader.log)"
  kill $reader
else
  pass "the reader does not hang"
fi
OUT=$(cat /tmp/reader.log)
expect_match "the reader read before the removal" '^rc 0:'
OUT=$(tail -1 /tmp/reader.log)
expect_contains "the reader gets ENODEV" "No such device"
run nvme id-ctrl $DEV/$pcie
expect_contains "the removed controller's node answers ENODEV" "No such device"
run nvme id-ctrl $DEV/$emu
expect_status "the emulated controller is still served" 0
dd if=/dev/urandom of=/tmp/emu-wrote bs=4096 count=4 2>/dev/null
write_read_back "16 KiB on the emulated controller" $DEV/${emu}n1 $DEV/${emu}n1 64 31 16384 /tmp/emu-wrote
kill -TERM $DAEMON_PID
wait $DAEMON_PID
expect_eq "SIGTERM after the removal: nvmecused exits 0" "$?" 0
DAEMON_PID=""
finish
