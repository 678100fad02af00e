# nvmecused drives QEMU's NVMe device through VFIO (--attach trtype:pcie):
# refused, with the way out named, while the kernel's nvme driver holds it;
# then bound to vfio-pci, enabled by nvmecused, served to nvme-cli and
# smartctl, data crossing in both directions between the two drivers;
# given back to the kernel's nvme driver, which reads what nvmecused wrote;
# and served again, then removed from the bus under a reader.
. /vm/lib.sh

bdf=""
for d in /sys/bus/pci/devices/*; do
  [ "$(cat "$d/class")" = 0x010802 ] && bdf=${d##*/}
done
[ -n "$bdf" ] || { fail "an NVMe PCI function is present"; finish; exit 1; }
pass "an NVMe PCI function is present ($bdf)"
sysdev=/sys/bus/pci/devices/$bdf

kernel_ns() { # the kernel's namespace block device of the function
  for c in $sysdev/nvme/nvme*; do [ -e "$c" ] && echo /dev/${c##*/}n1; done
}

# --- the kernel driver writes first ----------------------------------------
modprobe nvme
i=0
until [ -n "$(kernel_ns)" ] && [ -b "$(kernel_ns)" ]; do
  i=$((i + 1)); [ $i -gt 100 ] && break; sleep 0.1
done
blk=$(kernel_ns)
dd if=/dev/urandom of=/tmp/kernel-wrote bs=4096 count=32 2>/dev/null
run dd if=/tmp/kernel-wrote of=$blk bs=4096 count=32 oflag=direct
expect_status "the kernel driver writes 128 KiB at LBA 0 ($blk)" 0

# --- refused while the kernel driver holds it ------------------------------
modprobe vfio_iommu_type1
modprobe vfio-pci
run timeout 20 nvmecused --attach "trtype:pcie traddr:$bdf"
if [ "$STATUS" -ne 0 ]; then pass "nvmecused refuses a function bound to nvme"; else fail "nvmecused refuses a function bound to nvme"; fi
expect_contains "it names the driver" "is bound to the nvme driver"
expect_contains "it names the block devices in use" "${blk#/dev/}"
expect_contains "it names the command that rebinds it" "driver_override"

# --- bound to vfio-pci, served by nvmecused --------------------------------
echo vfio-pci >$sysdev/driver_override
echo "$bdf" >$sysdev/driver/unbind
echo "$bdf" >/sys/bus/pci/drivers_probe
run readlink $sysdev/driver
expect_match "vfio-pci owns the function" '/vfio-pci$'

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

run nvme id-ctrl $DEV/nvme0
expect_status "nvme id-ctrl through nvmecused" 0
expect_field "the serial is QEMU's device's" sn "QEMUNVME0001"
expect_field "the model is QEMU's" mn "QEMU NVMe Ctrl"
run nvme id-ns $DEV/nvme0n1
expect_field "its namespace is the 64 MiB image" nsze "0x20000"

rm -f /tmp/read-back
run nvme read $DEV/nvme0n1 -s 0 -c 255 -z 131072 -d /tmp/read-back
expect_status "nvme read of 128 KiB through nvmecused" 0
same "nvmecused reads what the kernel driver wrote" /tmp/kernel-wrote /tmp/read-back

dd if=/dev/urandom of=/tmp/we-wrote bs=4096 count=16 2>/dev/null
write_read_back "64 KiB at LBA 4096" $DEV/nvme0n1 $DEV/nvme0n1 4096 127 65536 /tmp/we-wrote
dd if=/dev/urandom of=/tmp/big bs=4096 count=256 2>/dev/null
write_read_back "1 MiB at LBA 8192, PRP lists, split past MDTS" $DEV/nvme0n1 $DEV/nvme0n1 8192 2047 1048576 /tmp/big

run nvme smart-log $DEV/nvme0
expect_status "nvme smart-log through nvmecused" 0
msix=$(awk '/vfio-msix/ { for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) n += $i } END { print n + 0 }' /proc/interrupts)
if [ "$msix" -gt 0 ]; then pass "its queues complete through MSI-X interrupts ($msix)"
else fail "its queues complete through MSI-X interrupts" "$(grep -i msi /proc/interrupts)"; fi
run smartctl -a $DEV/nvme0
expect_contains "smartctl reads the device through nvmecused" "QEMUNVME0001"

kill -TERM $DAEMON_PID
wait $DAEMON_PID
expect_eq "SIGTERM: nvmecused shuts the controller down and exits 0" "$?" 0
if wait_gone $DEV/nvme0 50; then pass "its nodes are gone"; else fail "its nodes are gone"; fi

# --- given back: the kernel driver reads what nvmecused wrote ---------------
echo "" >$sysdev/driver_override
echo "$bdf" >/sys/bus/pci/drivers/vfio-pci/unbind
echo "$bdf" >/sys/bus/pci/drivers_probe
i=0
until [ -n "$(kernel_ns)" ] && [ -b "$(kernel_ns)" ]; do
  i=$((i + 1)); [ $i -gt 100 ] && break; sleep 0.1
done
blk=$(kernel_ns)
run readlink $sysdev/driver
expect_match "the function is back with the nvme driver" '/nvme$'
rm -f /tmp/read-back
run dd if=$blk of=/tmp/read-back bs=512 skip=4096 count=128 iflag=direct
expect_status "the kernel driver reads LBA 4096" 0
same "the kernel driver reads what nvmecused wrote" /tmp/we-wrote /tmp/read-back

# --- removed under a reader ------------------------------------------------
# Served again, beside an emulated controller. The function is removed from
# the bus while a reader runs: vfio-pci asks nvmecused for it back
# (VFIO_PCI_REQ_IRQ_INDEX), nvmecused lets go, the removal completes, the
# reader and the node answer ENODEV, and the emulated controller goes on.
echo vfio-pci >$sysdev/driver_override
echo "$bdf" >$sysdev/driver/unbind
echo "$bdf" >/sys/bus/pci/drivers_probe
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
