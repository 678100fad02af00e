# The guest itself: the real kernel's CUSE is there, nvmecused registers its
# nodes through it, and the real nvme-cli reaches the emulated controller.
# ci-tier: release
. /vm/lib.sh

run ls -l /dev/cuse
expect_status "/dev/cuse exists once cuse is loaded" 0

if start_daemon /vm/conformance.json; then pass "nvmecused starts"; else fail "nvmecused starts"; fi
for node in nvme0 nvme0n1 nvme0n2 nvme0n3 nvme0n5; do
  if [ -c $DEV/$node ]; then pass "$DEV/$node is a character device"; else fail "$DEV/$node is a character device"; fi
done
if [ -e $DEV/nvme0n4 ]; then fail "no node for the absent namespace 4"; else pass "no node for the absent namespace 4"; fi

run nvme id-ctrl $DEV/nvme0
expect_status "nvme id-ctrl succeeds" 0
expect_field "id-ctrl mn is the configured model" mn "nvmecuse Conformance SSD"
expect_field "id-ctrl sn is the configured serial" sn "NVCCONF0000042"

run stat -c '%a %u %g' $DEV/nvme0
expect_eq "nodes default to root 0600" "$OUT" "600 0 0"
finish
