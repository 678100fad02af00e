# Real nvme-cli 2.3 namespace management, format and firmware update
# against the emulated controller of conformance.json (namespaces 1, 2, 3
# and 5; 3 firmware slots, slot 1 running 2.5.1): create-ns picks the lowest
# free nsid, attach/detach make the namespace node appear/disappear,
# list-ns shows active and allocated namespaces, format changes the LBA
# format that id-ns and the block ioctls report, and fw-download +
# fw-commit fill firmware slots that fw-log and id-ctrl report.
# ci-tier: release
. /vm/lib.sh

N=$DEV/nvme0
T=/tmp/ns
mkdir -p $T


# nsids: the namespace identifiers list-ns printed ("[   0]:0x1" lines), one line.
nsids() { printf '%s\n' "$OUT" | sed -n 's/^\[ *[0-9]*\]:\(0x[0-9a-f]*\)$/\1/p' | tr '\n' ' '; }

# ioctl DEV NAME: the value nvmecuse-vm-tool reports for one ioctl.
ioctl_value() { nvmecuse-vm-tool ioctl "$1" "$2"; }

if start_daemon /vm/conformance.json; then pass "nvmecused starts"; else fail "nvmecused starts"; finish; exit 1; fi

run nvme list-ns $N
expect_status "list-ns succeeds" 0
expect_eq "list-ns: the configured active namespaces" "$(nsids)" "0x1 0x2 0x3 0x5 "
run nvme list-ns $N -a
expect_status "list-ns -a succeeds" 0
expect_eq "list-ns -a: the configured allocated namespaces" "$(nsids)" "0x1 0x2 0x3 0x5 "

# --- create, attach, I/O, detach, delete -------------------------------------
run nvme create-ns $N --nsze=0x8000 --ncap=0x8000 --flbas=0
expect_status "create-ns succeeds" 0
expect_contains "create-ns prints the lowest free nsid (4)" "create-ns: Success, created nsid:4"
run nvme list-ns $N -a
expect_eq "list-ns -a shows the created namespace" "$(nsids)" "0x1 0x2 0x3 0x4 0x5 "
run nvme list-ns $N
expect_eq "list-ns: a created namespace is not attached" "$(nsids)" "0x1 0x2 0x3 0x5 "
if [ -e ${N}n4 ]; then fail "no node for the detached namespace 4"; else pass "no node for the detached namespace 4"; fi

run nvme create-ns $N --nsze=0x1000 --ncap=0x1000 --block-size=4096
expect_status "create-ns --block-size=4096 succeeds" 0
expect_contains "the second create-ns gets nsid 6" "create-ns: Success, created nsid:6"

run nvme attach-ns $N --namespace-id=4 --controllers=1
expect_status "attach-ns 4 succeeds" 0
expect_contains "attach-ns reports success" "attach-ns: Success, nsid:4"
if wait_for ${N}n4; then pass "${N}n4 appears after attach-ns"; else fail "${N}n4 appears after attach-ns"; fi
run nvme list-ns $N
expect_eq "list-ns shows namespace 4 attached" "$(nsids)" "0x1 0x2 0x3 0x4 0x5 "
run nvme id-ns ${N}n4
expect_status "id-ns on the new node" 0
expect_field "new namespace: nsze" nsze 0x8000
expect_field "new namespace: flbas 0 (512)" flbas 0
expect_eq "new namespace: NVME_IOCTL_ID" "$(ioctl_value ${N}n4 id)" "value 4"
expect_eq "new namespace: BLKGETSIZE64 = 0x8000 * 512" "$(ioctl_value ${N}n4 blkgetsize64)" "value 16777216"
expect_eq "new namespace: BLKSSZGET" "$(ioctl_value ${N}n4 blksszget)" "value 512"
head -c 1048576 /dev/urandom >$T/w1m
write_read_back "new namespace, its last 1 MiB" ${N}n4 ${N}n4 0x7800 2047 1048576 $T/w1m
run nvme read ${N}n4 -s 0x7801 -c 2047 -z 1048576 -d $T/r1m
expect_status "read past the end of the new namespace fails" 1
expect_contains "read past the end: LBA Out of Range" "LBA Out of Range"

run nvme detach-ns $N --namespace-id=4 --controllers=1
expect_status "detach-ns 4 succeeds" 0
expect_contains "detach-ns reports success" "detach-ns: Success, nsid:4"
if wait_gone ${N}n4; then pass "${N}n4 disappears after detach-ns"; else fail "${N}n4 disappears after detach-ns"; fi
run nvme list-ns $N
expect_eq "list-ns: namespace 4 no longer active" "$(nsids)" "0x1 0x2 0x3 0x5 "
run nvme list-ns $N -a
expect_eq "list-ns -a: namespace 4 still allocated" "$(nsids)" "0x1 0x2 0x3 0x4 0x5 0x6 "

run nvme delete-ns $N --namespace-id=4
expect_status "delete-ns 4 succeeds" 0
expect_contains "delete-ns reports success" "delete-ns: Success, deleted nsid:4"
run nvme list-ns $N -a
expect_eq "list-ns -a: namespace 4 deleted" "$(nsids)" "0x1 0x2 0x3 0x5 0x6 "
run nvme create-ns $N --nsze=0x800 --ncap=0x800 --flbas=4
expect_contains "create-ns reuses the freed nsid 4" "create-ns: Success, created nsid:4"
run nvme delete-ns $N --namespace-id=4
expect_status "delete-ns 4 again" 0
run nvme delete-ns $N --namespace-id=6
expect_status "delete-ns 6" 0
run nvme list-ns $N -a
expect_eq "list-ns -a: back to the configured namespaces" "$(nsids)" "0x1 0x2 0x3 0x5 "
run nvme delete-ns $N --namespace-id=6
expect_status "delete-ns of a deleted namespace fails" 1
expect_contains "delete-ns of a deleted namespace: Invalid Namespace or Format" "Invalid Namespace or Format"

# --- format --------------------------------------------------------------------
# nsid 2: 256 MiB of 4096-byte blocks (LBAF 4) becomes 512-byte blocks (LBAF 0).
run nvme write ${N}n2 -s 0 -c 255 -z 1048576 -d $T/w1m
expect_status "nsid 2: data before the format" 0
# Through the namespace node nvme-cli (a character device: like /dev/ng0n2)
# follows a changed LBAF with NVME_IOCTL_RESCAN, which only the controller
# node answers: ENOTTY, "failed to rescan namespaces", exit status 1, on the
# kernel's ng node as on ours. The format itself is done.
run nvme format ${N}n2 --lbaf=0 --force
expect_status "format through the namespace node: the rescan after it fails" 1
expect_contains "format through the namespace node formats" "Success formatting namespace:2"
expect_contains "format through the namespace node: rescan ENOTTY" "failed to rescan namespaces"
# Right after the ioctl returned (the kernel rescans before it returns).
expect_eq "nsid 2: BLKSSZGET right after format is 512" "$(ioctl_value ${N}n2 blksszget)" "value 512"
run nvme id-ns ${N}n2
expect_field "nsid 2 after format: flbas 0" flbas 0
expect_field "nsid 2 after format: nsze 0x80000 (256 MiB / 512)" nsze 0x80000
expect_field "nsid 2 after format: ncap 0x80000" ncap 0x80000
expect_match "nsid 2 after format: LBAF 0 in use" "^lbaf +0 : ms:0 +lbads:9 +rp:0x2 \(in use\)"
expect_eq "nsid 2 after format: BLKPBSZGET" "$(ioctl_value ${N}n2 blkpbszget)" "value 512"
expect_eq "nsid 2 after format: BLKGETSIZE64 unchanged" "$(ioctl_value ${N}n2 blkgetsize64)" "value 268435456"
expect_eq "nsid 2 after format: BLKGETSIZE (512-byte sectors)" "$(ioctl_value ${N}n2 blkgetsize)" "value 524288"
run nvme read ${N}n2 -s 0 -c 2047 -z 1048576 -d $T/r1m
expect_status "nsid 2 after format: read 2048 512-byte blocks" 0
head -c 1048576 /dev/zero >$T/z1m
same "nsid 2 after format: the old data is gone (zeroes)" $T/r1m $T/z1m
run nvme write ${N}n2 -s 0x7fc00 -c 1023 -z 524288 -d $T/w1m
expect_status "nsid 2 after format: write the last 1024 blocks" 0
run nvme read ${N}n2 -s 0x7fc00 -c 1023 -z 524288 -d $T/r512k
head -c 524288 $T/w1m >$T/x
same "nsid 2 after format: data read back" $T/r512k $T/x

# nsid 1: 1 GiB of 512-byte blocks to 4096 + 8 separate metadata (LBAF 5).
run nvme format $N --namespace-id=1 --lbaf=5 --force
expect_status "format nsid 1 to LBAF 5 (4096 + 8) through the controller node" 0
expect_contains "format reports success" "Success formatting namespace:1"
expect_eq "nsid 1: BLKSSZGET right after format is 4096" "$(ioctl_value ${N}n1 blksszget)" "value 4096"
run nvme id-ns ${N}n1
expect_field "nsid 1 after format: flbas 0x5" flbas 0x5
expect_field "nsid 1 after format: nsze 0x40000" nsze 0x40000
expect_match "nsid 1 after format: LBAF 5 in use" "^lbaf +5 : ms:8 +lbads:12 +rp:0x1 \(in use\)"
expect_eq "nsid 1 after format: BLKGETSIZE64" "$(ioctl_value ${N}n1 blkgetsize64)" "value 1073741824"
head -c 16 /dev/urandom >$T/m16
run nvme write ${N}n1 -s 7 -c 1 -z 8192 -y 16 -M $T/m16 -d $T/w1m
expect_status "nsid 1 after format: write 2 blocks with metadata" 0
run nvme read ${N}n1 -s 7 -c 1 -z 8192 -y 16 -M $T/rm16 -d $T/r8k
head -c 8192 $T/w1m >$T/x
same "nsid 1 after format: data read back" $T/r8k $T/x
same "nsid 1 after format: metadata read back" $T/rm16 $T/m16
run nvme format $N --namespace-id=1 --lbaf=8 --force
expect_status "format to a LBAF the namespace does not have fails" 1

# --- firmware -------------------------------------------------------------------
# fw-log prints each slot's FR as a little-endian number and as text, with
# the space padding of the ASCII field shown as dots.
run nvme fw-log $N
expect_status "fw-log succeeds" 0
expect_field "fw-log: slot 1 active" afi 0x1
expect_match "fw-log: slot 1 holds the configured 2.5.1" "^frs1 *: 0x202020312e352e32 \(2\.5\.1\.\.\.\)$"

# Images name their revision: "NVCFW" and 8 characters.
fw_image() { # FILE REVISION KiB
  { printf 'NVCFW%-8s' "$2"; head -c $(($3 * 1024 - 13)) /dev/urandom; } >"$1"
}
fw_image $T/fwA 3.0.0A 20
run nvme fw-download $N --fw=$T/fwA
expect_status "fw-download of a 20 KiB image" 0
expect_contains "fw-download reports success" "Firmware download success"
run nvme fw-commit $N --slot=2 --action=0
expect_status "fw-commit slot 2 action 0 (replace, no activation)" 0
expect_contains "fw-commit reports success" "Success committing firmware action:0 slot:2"
run nvme fw-log $N
expect_match "fw-log: slot 2 holds 3.0.0A" "^frs2 *: 0x202041302e302e33 \(3\.0\.0A\.\.\)$"
expect_field "fw-log: slot 1 still active" afi 0x1
run nvme id-ctrl $N
expect_field "id-ctrl fr unchanged without activation" fr 2.5.1

fw_image $T/fwB 3.1.0B 8
run nvme fw-download $N --fw=$T/fwB --xfer=4096
expect_status "fw-download in 4 KiB pieces" 0
run nvme fw-commit $N --slot=3 --action=3
expect_status "fw-commit slot 3 action 3 (replace, activate now)" 0
expect_contains "fw-commit action 3 reports success" "Success committing firmware action:3 slot:3"
run nvme fw-log $N
expect_match "fw-log: slot 3 holds 3.1.0B" "^frs3 *: 0x202042302e312e33 \(3\.1\.0B\.\.\)$"
expect_field "fw-log: slot 3 active" afi 0x3
run nvme id-ctrl $N
expect_field "id-ctrl fr is the activated 3.1.0B" fr 3.1.0B

run nvme fw-commit $N --slot=2 --action=2
expect_status "fw-commit slot 2 action 2 (activate at the next reset)" 0
run nvme fw-log $N
expect_field "fw-log: slot 3 active, slot 2 at the next reset" afi 0x23
run nvme id-ctrl $N
expect_field "id-ctrl fr unchanged before the reset" fr 3.1.0B
expect_eq "controller reset ioctl" "$(ioctl_value $N reset)" "value 0"
run nvme fw-log $N
expect_field "fw-log after the reset: slot 2 active" afi 0x2
run nvme id-ctrl $N
expect_field "id-ctrl fr after the reset is 3.0.0A" fr 3.0.0A

run nvme fw-commit $N --slot=2 --action=0
expect_status "fw-commit without a downloaded image fails" 1
expect_contains "fw-commit without an image: Invalid Firmware" "Invalid Firmware"
run nvme fw-commit $N --slot=4 --action=2
expect_status "fw-commit to slot 4 of 3 fails" 1
expect_contains "fw-commit to a slot past NOFS: Invalid Firmware Slot" "Invalid Firmware Slot"

finish
