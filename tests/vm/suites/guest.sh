# The test bed itself, as later suites rely on it: the real kernel's CUSE,
# the QEMU NVMe device under the kernel driver and handed to vfio-pci, and a
# kernel NVMe/TCP target (nvmet-tcp over configfs, null_blk namespace) that
# the kernel's own NVMe/TCP host reaches on 127.0.0.1:4420. On 6.12 (6.1 is
# built without it) the target then requires in-band authentication
# (DH-HMAC-CHAP) of its one allowed host: the kernel's host as the reference,
# then nvmecused with the right secrets, a wrong host secret and a wrong
# controller secret.
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

# --- in-band authentication: nvmet's host entry with dhchap keys ----------
cfg=/sys/kernel/config/nvmet
hostnqn=$(cat /etc/nvme/hostnqn)
host=$cfg/hosts/$hostnqn
mkdir $host
if [ "$generation" = 6.1 ]; then
  if [ -e $host/dhchap_key ]; then
    fail "Debian's 6.1 nvmet has no dhchap_key (CONFIG_NVME_TARGET_AUTH unset)"
  else
    pass "Debian's 6.1 nvmet has no dhchap_key (CONFIG_NVME_TARGET_AUTH unset)"
  fi
  finish
  exit
fi
auth_start=$(cut -d. -f1 /proc/uptime)
echo 0 >$cfg/subsystems/$subnqn/attr_allow_any_host
ln -s $host $cfg/subsystems/$subnqn/allowed_hosts/$hostnqn
key=$(nvme gen-dhchap-key -m 1 -n "$hostnqn")
ctrl_key=$(nvme gen-dhchap-key -m 2 -l 48 -n "$subnqn")
wrong_key=$(nvme gen-dhchap-key -m 1 -n "$hostnqn")
echo "$key" >$host/dhchap_key
echo "$ctrl_key" >$host/dhchap_ctrl_key
echo "hmac(sha384)" >$host/dhchap_hash
echo ffdhe2048 >$host/dhchap_dhgroup

run nvme connect -t tcp -a 127.0.0.1 -s 4420 -n $subnqn -i 1 --dhchap-secret "$key" --dhchap-ctrl-secret "$ctrl_key"
expect_status "the kernel host authenticates both ways (SHA-384, ffdhe2048)" 0
run nvme disconnect -n $subnqn
run nvme connect -t tcp -a 127.0.0.1 -s 4420 -n $subnqn -i 1 --dhchap-secret "$wrong_key"
if [ "$STATUS" -ne 0 ]; then pass "the kernel host with a wrong secret is refused"; else
  fail "the kernel host with a wrong secret is refused"; nvme disconnect -n $subnqn >/dev/null; fi
expect_contains "the kernel host's error is EKEYREJECTED" "Key was rejected by service"
echo "# the kernel host's and nvmet's words for it:"
show_out
dmesg | grep -iE 'auth|dhchap' | tail -4 | sed 's/^/#   | /'
run nvme connect -t tcp -a 127.0.0.1 -s 4420 -n $subnqn -i 1 --dhchap-secret "$key" --dhchap-ctrl-secret "$key"
if [ "$STATUS" -ne 0 ]; then pass "the kernel host refuses a controller not proving its secret"; else
  fail "the kernel host refuses a controller not proving its secret"; nvme disconnect -n $subnqn >/dev/null; fi
show_out

# auth_daemon NAME ARGS...: nvmecused attaching the target with ARGS, its log
# in /tmp/auth.NAME.log; DAEMON_PID set while it runs.
auth_daemon() {
  name=$1
  shift
  nvmecused --no-rpc -i 1 --attach "trtype:tcp adrfam:ipv4 traddr:127.0.0.1 trsvcid:4420 subnqn:$subnqn" \
    "$@" >/tmp/auth.$name.log 2>&1 &
  DAEMON_PID=$!
}
# refused NAME TEXT: the daemon exits non-zero within 30 s and logs TEXT.
refused() {
  i=0
  while kill -0 $DAEMON_PID 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
  stop_daemon
  rc=$?
  OUT=$(cat /tmp/auth.$1.log)
  if [ $rc -ne 0 ] && [ $rc -ne 143 ] && grep -qF -- "$2" /tmp/auth.$1.log; then
    pass "nvmecused: $3 (exit status $rc)"
  else
    fail "nvmecused: $3" "exit status $rc"
    show_out
  fi
}

auth_daemon right --dhchap-secret "$key" --dhchap-ctrl-secret "$ctrl_key"
wait_for $DEV/nvme0 100
run nvme id-ctrl $DEV/nvme0
expect_field "nvmecused authenticates both ways and nvme id-ctrl works" subnqn "$subnqn"
run nvme read $DEV/nvme0n1 -s 0 -c 0 -z 512 -d /dev/null
expect_status "a read through its namespace node (an authenticated I/O queue)" 0
if grep -q 'authenticated with hmac(sha384) and DH group ffdhe2048, controller authenticated' /tmp/auth.right.log; then
  pass "its log names the hash, the group and the controller's authentication"
else
  OUT=$(cat /tmp/auth.right.log); fail "its log names the hash, the group and the controller's authentication"; show_out
fi
stop_daemon

auth_daemon wrong --dhchap-secret "$wrong_key"
refused wrong "check --dhchap-secret against the target's key" "a wrong host secret is refused by nvmet"
if grep -qF "Key was rejected by service" /tmp/auth.wrong.log; then
  pass "nvmecused's error is the kernel host's (EKEYREJECTED)"
else
  fail "nvmecused's error is the kernel host's (EKEYREJECTED)"
fi
auth_daemon wrong-ctrl --dhchap-secret "$key" --dhchap-ctrl-secret "$key"
refused wrong-ctrl "controller authentication failed" "a controller not proving --dhchap-ctrl-secret is refused"
auth_daemon none
refused none "requires in-band authentication" "no secret for a target that requires one"
echo "# authentication checks: $(($(cut -d. -f1 /proc/uptime) - auth_start)) s"
cat /tmp/auth.*.log >>/tmp/nvmecused.log # finish() looks there for sanitizer reports
finish
