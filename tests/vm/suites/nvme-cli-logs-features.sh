# nvme-cli 2.3 log pages, features, self-test and resets against nvmecused
# on the emulated controller of /vm/conformance.json: values must be the
# ones the configuration and the emulated controller (transport/emu) define,
# errors the statuses/errnos the kernel's own nvme nodes give.
# ci-tier: release
. /vm/lib.sh

C=$DEV/nvme0

start_conformance_daemon

# u32_at FILE OFFSET: the little-endian dword at OFFSET of FILE, in decimal.
u32_at() { od -A n -t u4 -j "$2" -N 4 "$1" | tr -d ' \n'; }

# --- smart-log on a fresh controller ------------------------------------------
run nvme smart-log -o json $C
expect_status "smart-log -o json succeeds" 0
expect_json "smart-log critical_warning" .critical_warning 0
expect_json "smart-log temperature 313 K" .temperature 313
expect_json "smart-log sensor 1 is the composite temperature" .temperature_sensor_1 313
expect_json "smart-log available spare" .avail_spare 100
expect_json "smart-log spare threshold" .spare_thresh 10
expect_json "smart-log percentage used" .percent_used 0
expect_json "smart-log power cycles" .power_cycles 1
expect_json "smart-log unsafe shutdowns" .unsafe_shutdowns 0
expect_json "smart-log media errors" .media_errors 0
expect_json "smart-log no errors yet" .num_err_log_entries 0
expect_json "smart-log nothing written yet" .host_write_commands 0

run nvme smart-log $C
expect_status "smart-log succeeds" 0
expect_contains "smart-log header: controller-wide" "Smart Log for NVME device:nvme0 namespace-id:ffffffff"
expect_match "smart-log temperature 40 C" '^temperature[[:space:]]+: 40.+C \(313 Kelvin\)$'
expect_field "smart-log available_spare" available_spare "100%"

# One 4 KiB write and one read on namespace 1 (512-byte blocks).
dd if=/dev/urandom of=/tmp/data bs=4096 count=1 2>/dev/null
run nvme write $DEV/nvme0n1 -s 0 -c 7 -z 4096 -d /tmp/data
expect_status "write 8 blocks to nvme0n1" 0
run nvme read $DEV/nvme0n1 -s 0 -c 7 -z 4096 -d /tmp/back
expect_status "read them back" 0
if cmp -s /tmp/data /tmp/back; then pass "read data = written data"; else fail "read data = written data"; fi
run nvme smart-log -o json $C
expect_json "smart-log counts the write" .host_write_commands 1
expect_json "smart-log counts the read" .host_read_commands 1
expect_json "smart-log data units written: 8 x 512 B rounds up to 1" .data_units_written 1
expect_json "smart-log data units read" .data_units_read 1

# --- error-log after an error -------------------------------------------------
# Namespace 2 has 65536 blocks of 4096 bytes: LBA 65536 is past its end.
run nvme read $DEV/nvme0n2 -s 65536 -c 0 -z 4096 -d /tmp/r
expect_status "read past the end of nvme0n2 fails" 1
expect_contains "read past the end: LBA Out of Range" "NVMe status: LBA Out of Range: The command references an LBA that exceeds the size of the namespace(0x4080)"
run nvme smart-log -o json $C
expect_json "smart-log counts the error" .num_err_log_entries 1
run nvme error-log -e 1 $C
expect_status "error-log succeeds" 0
expect_field "error-log error_count" error_count 1
# Which I/O queue depends on the serving thread that read the request.
expect_match "error-log sqid: an I/O queue" '^sqid[[:space:]]+: [1-9][0-9]*$'
expect_match "error-log status: LBA Out of Range" '^status_field[[:space:]]+: 0x4080\(LBA Out of Range'
expect_field "error-log parameter location: SLBA (CDW10)" parm_err_loc 0x28
expect_field "error-log lba" lba 0x10000
expect_field "error-log nsid" nsid 0x2
run nvme error-log -e 2 -o json $C
expect_status "error-log -o json succeeds" 0
expect_json "error-log json: newest entry first" '.errors[0] | "\(.error_count) \(.status_field) \(.lba) \(.nsid)"' "1 16512 65536 2"
expect_json "error-log json: unused entry is zero" '.errors[1].error_count' 0

# --- fw-log -------------------------------------------------------------------
run nvme fw-log $C
expect_status "fw-log succeeds" 0
expect_field "fw-log afi: slot 1 active" afi 0x1
expect_match "fw-log slot 1 is the configured firmware" '^frs1 : 0x202020312e352e32 \(2\.5\.1'
expect_not_contains "fw-log: slots 2 and 3 are empty" "frs2"
run nvme fw-log -o json $C
expect_json "fw-log json afi" '.nvme0."Active Firmware Slot (afi)"' 1
expect_json "fw-log json slot 1" '.nvme0."Firmware Rev Slot 1" | test("\\(2\\.5\\.1")' true

# --- commands supported and effects -------------------------------------------
# Without --csi nvme-cli 2.3 looks the controller up in sysfs, which a CUSE
# node does not have; with --csi it only reads the log.
run nvme effects-log --csi=0 $C
expect_status "effects-log --csi=0 succeeds" 0
expect_match "effects-log lists Identify (ACS 06h)" '^ACS6 +\[Identify +\] 00000001'
expect_match "effects-log lists Format NVM with its effects" '^ACS128 +\[Format NVM +\] 00010007'
expect_match "effects-log lists Write (IOCS 01h) changing content" '^IOCS1 +\[Write +\] 00000003'
run sh -c "nvme get-log $C -i 5 -l 4096 -b >/tmp/effects.bin"
expect_status "get-log -i 5 (effects) succeeds" 0
expect_eq "effects: Get Log Page supported" "$(u32_at /tmp/effects.bin $((4 * 0x02)))" 1
expect_eq "effects: Namespace Management supported, NIC" "$(u32_at /tmp/effects.bin $((4 * 0x0d)))" 9
expect_eq "effects: Firmware Commit supported, CCC" "$(u32_at /tmp/effects.bin $((4 * 0x10)))" 17
expect_eq "effects: Device Self-test supported" "$(u32_at /tmp/effects.bin $((4 * 0x14)))" 1
expect_eq "effects: Create I/O SQ not offered" "$(u32_at /tmp/effects.bin $((4 * 0x01)))" 0
expect_eq "effects: Read supported" "$(u32_at /tmp/effects.bin $((1024 + 4 * 0x02)))" 1
expect_eq "effects: Flush supported, LBCC" "$(u32_at /tmp/effects.bin $((1024 + 4 * 0x00)))" 3
expect_eq "effects: Reservation Register not supported" "$(u32_at /tmp/effects.bin $((1024 + 4 * 0x0d)))" 0

# --- device self-test ---------------------------------------------------------
run nvme self-test-log $C
expect_status "self-test-log succeeds" 0
expect_match "self-test-log: no operation" '^Current operation +: 0$'
expect_match "self-test-log: entry 0 unused" '^  Operation Result +: 0xf$'
# The extended test takes 4 x 1500 ms: long enough to look at it running
# and abort it, unless the guest is starved for seconds; a check that
# depends on that timing is skipped (with a note) when more than 6 s went by.
now_ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }
# timed T0 NAME ACTUAL EXPECTED: expect_eq when the test started at T0
# cannot have finished yet.
timed() {
  elapsed=$(( $(now_ms) - $1 ))
  if [ "$elapsed" -lt 6000 ]; then
    expect_eq "$2" "$3" "$4"
  else
    echo "# skipped - $2 (guest too slow: ${elapsed} ms)"
  fi
}
t0=$(now_ms)
run nvme device-self-test -s 2 -n 1 $C
expect_status "device-self-test -s 2 -n 1 succeeds" 0
expect_contains "device-self-test -s 2 starts" "Extended Device self-test started"
run nvme self-test-log -o json $C
timed "$t0" "self-test-log: extended test running" "$(json '."Current Device Self-Test Operation"')" 2
run nvme device-self-test -s 0xf $C
expect_status "device-self-test -s 0xf (abort) succeeds" 0
aborted=$(now_ms)
run nvme self-test-log -o json $C
expect_json "self-test-log: no operation after the abort" '."Current Device Self-Test Operation"' 0
expect_json "self-test-log: entry 0 extended test of nsid 1" \
  '."List of Valid Reports"[0] | "\(."Self test code") \(."Namespace Identifier")"' "2 1"
elapsed=$((aborted - t0))
result=$(json '."List of Valid Reports"[0]."Self test result"')
if [ "$elapsed" -lt 6000 ]; then
  expect_eq "self-test-log: entry 0 aborted by the command" "$result" 1
else
  echo "# skipped - entry 0 aborted by the command (guest too slow: ${elapsed} ms; result $result)"
fi
t0=$(now_ms)
run nvme device-self-test -s 2 $C
expect_status "device-self-test -s 2 succeeds" 0
run nvme device-self-test -s 1 $C
timed "$t0" "a second self-test while one runs: Device Self-test in Progress" \
  "$STATUS $(echo "$OUT" | grep -o '(0x11d)')" "1 (0x11d)"
run nvme device-self-test -s 0xf $C
expect_status "device-self-test -s 0xf aborts it" 0
# The short one (1500 ms) runs to completion.
run nvme device-self-test -s 1 $C
expect_status "device-self-test -s 1 succeeds" 0
expect_contains "device-self-test -s 1 starts" "Short Device self-test started"
sleep 2
run nvme self-test-log $C
expect_match "self-test-log: done, no operation" '^Current operation +: 0$'
expect_match "self-test-log: entry 0 completed without error" '^  Operation Result +: 0$'
expect_match "self-test-log: entry 0 is a short test" '^  Self Test Code +: 1$'
expect_match "self-test-log: entry 0 for all namespaces" '^  Namespace Identifier +: 0xffffffff$'
run nvme self-test-log -o json $C
expect_json "self-test-log: entry 1 is the extended test" '."List of Valid Reports"[1]."Self test code"' 2
expect_json "self-test-log: 20 entries" '."List of Valid Reports" | length' 20

# --- get-feature --------------------------------------------------------------
# gf NODE FID SEL EXPECTED: the value nvme-cli prints for one select.
sel_name() { case $1 in 0) echo Current ;; 1) echo Default ;; 2) echo Saved ;; 3) echo "Supported capabilities" ;; esac; }
gf() {
  run nvme get-feature "$1" -f "$2" -s "$3"
  if [ "$STATUS" -ne 0 ]; then
    fail "get-feature $(basename "$1") -f $2 -s $3" "exit status $STATUS"
    show_out
    return
  fi
  expect_contains "get-feature $(basename "$1") -f $2 -s $3 is $4" "$(sel_name "$3") value:$4"
}
# FID: current default saved capabilities (5 = saveable+changeable, 4 = changeable)
for row in "0x01 0x00000007 0x00000007 0x00000007 0x00000005" \
           "0x02 00000000 00000000 00000000 0x00000005" \
           "0x04 0x00000157 0x00000157 0x00000157 0x00000005" \
           "0x06 0x00000001 0x00000001 0x00000001 0x00000005" \
           "0x08 00000000 00000000 00000000 0x00000005" \
           "0x0f 00000000 00000000 00000000 0x00000004"; do
  set -- $row
  fid=$1
  gf $C "$fid" 0 "$2"
  gf $C "$fid" 1 "$3"
  gf $C "$fid" 2 "$4"
  gf $C "$fid" 3 "$5"
done
# Number of Queues: not saveable (saved reads the default, 8 + 8); the
# current value is what the daemon negotiated (one I/O queue pair).
gf $C 0x07 1 0x00070007
gf $C 0x07 2 0x00070007
gf $C 0x07 3 0x00000004
run nvme get-feature $C -f 0x07
expect_match "get-feature -f 7 current is at most the default" 'Current value:(00000000|0x000[0-7]000[0-7])$'
# Asynchronous Event Configuration: the daemon enables exactly the namespace
# attribute and firmware activation notices OAES reports, as the kernel's
# nvme_enable_aen() does.
gf $C 0x0b 1 00000000
gf $C 0x0b 0 0x00000300
gf $C 0x0b 3 0x00000005
# Timestamp: an 8-byte structure, changeable only.
run nvme get-feature $C -f 0x0e
expect_status "get-feature -f 0xe succeeds" 0
expect_match "get-feature -f 0xe shows the 8-byte timestamp" '^0000: ([0-9a-f]{2} ){8}'
gf $C 0x0e 3 0x00000004

# Error Recovery is namespace specific: the controller node sends
# NSID FFFFFFFFh (nvme-cli's default where NVME_IOCTL_ID is ENOTTY).
run nvme get-feature $C -f 0x05
expect_status "get-feature -f 5 on the controller node fails" 1
expect_contains "get-feature -f 5 with NSID FFFFFFFFh: Invalid Namespace or Format" "NVMe status: Invalid Namespace or Format"
gf $DEV/nvme0n1 0x05 0 00000000
gf $DEV/nvme0n1 0x05 1 00000000
gf $DEV/nvme0n1 0x05 2 00000000
gf $DEV/nvme0n1 0x05 3 0x00000007
run nvme get-feature $DEV/nvme0n1 -f 0x05 -s 3
expect_contains "get-feature -f 5 -s 3: per-namespace" "Feature is per-namespace"
run nvme get-feature $C -f 0x05 -n 2
expect_status "get-feature -f 5 -n 2 on the controller node succeeds" 0
# Controller-wide features read the same on a namespace node.
gf $DEV/nvme0n2 0x04 0 0x00000157
gf $DEV/nvme0n2 0x06 0 0x00000001
gf $DEV/nvme0n2 0x01 3 0x00000005

# --- set-feature --------------------------------------------------------------
run nvme set-feature $C -f 0x04 -v 350
expect_status "set-feature -f 4 -v 350 succeeds" 0
expect_contains "set-feature -f 4 echoes the value" "set-feature:0x04 (Temperature Threshold), value:0x0000015e, cdw12:00000000, save:0"
gf $C 0x04 0 0x0000015e
gf $C 0x04 2 0x00000157
gf $C 0x04 1 0x00000157
gf $DEV/nvme0n3 0x04 0 0x0000015e

run nvme set-feature $C -f 0x06 -v 0 --save
expect_status "set-feature -f 6 -v 0 --save succeeds" 0
expect_contains "set-feature --save echoes save" "save:0x1"
gf $C 0x06 0 00000000
gf $C 0x06 2 00000000
gf $C 0x06 1 0x00000001

run nvme set-feature $DEV/nvme0n1 -f 0x05 -v 0x10
expect_status "set-feature -f 5 on nvme0n1 succeeds" 0
gf $DEV/nvme0n1 0x05 0 0x00000010
gf $DEV/nvme0n2 0x05 0 00000000

# Refusals.
run nvme set-feature $C -f 0x0c -v 1
expect_status "set-feature of an unsupported fid (APST) fails" 1
expect_eq "set-feature -f 0xc: Invalid Field in Command" "$OUT" "NVMe status: Invalid Field in Command: A reserved coded value or an unsupported value in a defined field(0x4002)"
run nvme set-feature $C -f 0x0a -v 1
expect_status "set-feature of Write Atomicity Normal fails" 1
expect_eq "set-feature -f 0xa: Feature Not Changeable" "$OUT" "NVMe status: Feature Not Changeable: The Feature Identifier is not able to be changed(0x410e)"
run nvme set-feature $C -f 0x0e -v 1 --save
expect_status "set-feature --save of the timestamp fails" 1
expect_eq "set-feature -f 0xe --save: Not Saveable" "$OUT" "NVMe status: Feature Identifier Not Saveable: The Feature Identifier specified does not support a saveable value(0x410d)"
run nvme set-feature $DEV/nvme0n1 -f 0x06 -v 1
expect_status "set-feature of a controller-wide fid with NSID 1 fails" 1
expect_contains "set-feature -f 6 on nvme0n1: Feature Not Namespace Specific" "NVMe status: Feature Not Namespace Specific"
run nvme set-feature $C -f 0x07 -v 0x00030003
expect_status "set-feature Number of Queues after queues exist fails" 1
expect_contains "set-feature -f 7: Command Sequence Error" "NVMe status: Command Sequence Error"

# --- get-log ------------------------------------------------------------------
run nvme get-log $C -i 1 -l 100
expect_status "get-log -i 1 -l 100 succeeds" 0
expect_contains "get-log header" "Device:nvme0 log-id:1 namespace-id:0xffffffff"
expect_match "get-log hex dump ends with 4 bytes at 0x60" '^0060: ([0-9a-f]{2} ){4} *"'
run sh -c "nvme get-log $C -i 1 -l 100 -b >/tmp/err.bin"
expect_eq "get-log -i 1 -l 100 -b: 100 bytes" "$(wc -c </tmp/err.bin | tr -d ' ')" 100
errors=$(u32_at /tmp/err.bin 0)
run nvme smart-log -o json $C
expect_json "error log count = smart num_err_log_entries" .num_err_log_entries "$errors"

run sh -c "nvme get-log $C -i 2 -l 512 -b >/tmp/smart.bin && nvme get-log $C -i 2 -l 96 --lpo=32 -b >/tmp/part.bin"
expect_status "get-log -i 2 whole and with --lpo=32" 0
expect_eq "get-log --lpo=32 -l 96: 96 bytes" "$(wc -c </tmp/part.bin | tr -d ' ')" 96
dd if=/tmp/smart.bin of=/tmp/window.bin bs=1 skip=32 count=96 2>/dev/null
if cmp -s /tmp/window.bin /tmp/part.bin; then
  pass "get-log --lpo=32 bytes = bytes 32..127 of the whole log"
else
  fail "get-log --lpo=32 bytes = bytes 32..127 of the whole log"
fi
expect_eq "smart log bytes 32..: data units read 1" "$(u32_at /tmp/part.bin 0)" 1
expect_eq "smart log bytes 112..: power cycles 1" "$(u32_at /tmp/part.bin 80)" 1
expect_eq "smart log temperature at bytes 1..2 (313 K)" "$(od -A n -t u2 -j 1 -N 2 /tmp/smart.bin | tr -d ' \n')" 313

# --- reset, rescan, subsystem reset -------------------------------------------
run nvme reset $C
expect_status "reset succeeds" 0
expect_eq "reset prints nothing" "$OUT" ""
# Current values return to the saved ones (or the defaults).
gf $C 0x04 0 0x00000157
gf $C 0x06 0 00000000
run nvme id-ctrl $C
expect_field "id-ctrl works after the reset" fr 2.5.1
run nvme reset $DEV/nvme0n1
expect_status "reset on a namespace node fails" 1
expect_eq "reset on a namespace node: ENOTTY" "$OUT" "Reset: Inappropriate ioctl for device"

run nvme ns-rescan $C
expect_status "ns-rescan succeeds" 0
if [ -e $DEV/nvme0n5 ] && [ ! -e $DEV/nvme0n4 ]; then
  pass "ns-rescan keeps the namespace nodes"
else
  fail "ns-rescan keeps the namespace nodes"
fi

# CAP.NSSRS is clear on the emulated controller: the kernel's answer for a
# controller without subsystem reset is ENOTTY.
run nvme subsystem-reset $C
expect_status "subsystem-reset fails" 1
expect_eq "subsystem-reset: not supported (ENOTTY)" "$OUT" "Subsystem-reset: NVM Subsystem Reset not supported."
run nvme id-ctrl $C
expect_status "id-ctrl works after subsystem-reset" 0

finish
