# The test bed itself, as later suites rely on it: the real kernel's CUSE,
# the QEMU NVMe device under the kernel driver and handed to vfio-pci, and a
# kernel NVMe/TCP target (nvmet-tcp over configfs, null_blk namespace) that
# the kernel's own NVMe/TCP host reaches on 127.0.0.1:4420.
. /vm/lib.sh

# /vm/kernel: the generation tests/vm/run booted (--kernel), 6.1 or 6.12.
generation=$(cat /vm/kernel)
run uname -r
expect_match "the guest runs Debian's $generation kernel" "^${generation%%.*}\\.${generation#*.}\\.[0-9]+[-+].*-amd64\$"
if [ -c /dev/cuse ]; then pass "/dev/cuse exists"; else fail "/dev/cuse exists"; fi

# --- the QEMU NVMe device: kernel driver first, then vfio-pci -------------
qemu_nvme=""
for d in /sys/bus/pci/devices/*; do
  [ "$(cat "$d/class")" = 0x010802 ] && qemu_nvme=${d##*/}
done
if [ -n "$qemu_nvme" ]; then pass "an NVMe PCI function is present ($qemu_nvme)"; else fail "an NVMe PCI function is present"; fi

modprobe nvme
kernel_ctrl=""
for c in /sys/class/nvme/nvme*; do
  [ -e "$c" ] && [ "$(cat "$c/transport")" = pcie ] && kernel_ctrl=${c##*/}
done
wait_for /dev/${kernel_ctrl:-nvme-none}n1 50
run nvme id-ctrl /dev/$kernel_ctrl
expect_status "the kernel driver's /dev/$kernel_ctrl answers nvme id-ctrl" 0
expect_field "it is QEMU's controller" sn "QEMUNVME0001"
run nvme id-ns /dev/${kernel_ctrl}n1
expect_field "its namespace is the 64 MiB image (512-byte blocks)" nsze "0x20000"

echo "$qemu_nvme" >/sys/bus/pci/devices/$qemu_nvme/driver/unbind
modprobe vfio-pci
echo vfio-pci >/sys/bus/pci/devices/$qemu_nvme/driver_override
echo "$qemu_nvme" >/sys/bus/pci/drivers/vfio-pci/bind
run readlink /sys/bus/pci/devices/$qemu_nvme/driver
expect_match "vfio-pci owns the device after driver_override" '/vfio-pci$'
group=$(readlink /sys/bus/pci/devices/$qemu_nvme/iommu_group)
group=${group##*/}
if [ -n "$group" ] && [ -c /dev/vfio/$group ]; then
  pass "its IOMMU group has /dev/vfio/$group"
else
  fail "its IOMMU group has /dev/vfio/<group>" "group '$group'"
fi

# --- nvmet-tcp target on 127.0.0.1:4420, the kernel host connects ---------
modprobe null_blk nr_devices=1 gb=1
subnqn=nqn.2026-11.io.nvmecuse:guest-target
run nvmet_export $subnqn /dev/nullb0
expect_status "nvmet exports a null_blk namespace on 127.0.0.1:4420" 0

run nvme discover -t tcp -a 127.0.0.1 -s 4420
expect_status "nvme discover reaches the target" 0
expect_contains "the discovery log lists the subsystem" "subnqn:  $subnqn"

run nvme connect -t tcp -a 127.0.0.1 -s 4420 -n $subnqn
expect_status "the kernel's NVMe/TCP host connects" 0
tcp_ctrl=""
for c in /sys/class/nvme/nvme*; do
  [ "$(cat "$c/transport")" = tcp ] && tcp_ctrl=${c##*/}
done
run nvme id-ctrl /dev/${tcp_ctrl:-nvme-none}
expect_field "the target is Linux's nvmet" mn "Linux"
expect_field "with the configured subsystem" subnqn "$subnqn"
run nvme disconnect -n $subnqn
expect_status "nvme disconnect" 0
finish
