# smartctl 7.3 (-d nvme) against the emulated controller of conformance.json,
# on the controller node and on namespace nodes. On the controller node
# NVME_IOCTL_ID is ENOTTY (as on the kernel's /dev/nvme0), so smartctl shows
# no namespace; on /dev/nvmecuse/nvme0n<M> it learns M and shows its size.
# ci-tier: release
. /vm/lib.sh

SMART="smartctl -d nvme"

if start_daemon /vm/conformance.json --threads 2; then pass "nvmecused starts"; else fail "nvmecused starts"; fi

# --- the controller node -----------------------------------------------------
run $SMART -i $DEV/nvme0
expect_status "-i on the controller node succeeds" 0
expect_field "-i model" "Model Number" "nvmecuse Conformance SSD"
expect_field "-i serial" "Serial Number" "NVCCONF0000042"
expect_field "-i firmware" "Firmware Version" "2.5.1"
expect_field "-i PCI vendor/subsystem (vid/ssvid 7086)" "PCI Vendor/Subsystem ID" "0x1bae"
expect_field "-i total capacity (64GiB)" "Total NVM Capacity" "68,719,476,736 [68.7 GB]"
expect_field "-i number of namespaces (max_namespaces)" "Number of Namespaces" "16"
expect_not_contains "-i on the controller node shows no namespace" "Namespace 1 Size"
expect_not_contains "-i on the controller node shows no LBA size" "Formatted LBA Size"

run $SMART -H $DEV/nvme0
expect_status "-H succeeds" 0
expect_contains "-H: health PASSED" "SMART overall-health self-assessment test result: PASSED"

run $SMART -c $DEV/nvme0
expect_status "-c succeeds" 0
expect_field "-c MDTS 9 is 512 pages" "Maximum Data Transfer Size" "512 Pages"
expect_field "-c warning temperature (343 K)" "Warning  Comp. Temp. Threshold" "70 Celsius"
expect_field "-c critical temperature (358 K)" "Critical Comp. Temp. Threshold" "85 Celsius"
expect_contains "-c lists the optional admin commands" "Format Frmw_DL NS_Mngmt Self_Test"

run $SMART -A $DEV/nvme0
expect_status "-A succeeds" 0
expect_field "-A critical warning" "Critical Warning" "0x00"
expect_field "-A temperature (313 K)" "Temperature" "40 Celsius"
expect_field "-A available spare" "Available Spare" "100%"
expect_field "-A nothing read yet" "Data Units Read" "0"
expect_field "-A nothing written yet" "Data Units Written" "0"
expect_field "-A no error log entries yet" "Error Information Log Entries" "0"

run $SMART -l error $DEV/nvme0
expect_status "-l error succeeds" 0
expect_contains "-l error: empty error log" "No Errors Logged"

run $SMART -a $DEV/nvme0
expect_status "-a on the controller node succeeds" 0
expect_field "-a model" "Model Number" "nvmecuse Conformance SSD"
expect_contains "-a health PASSED" "test result: PASSED"
expect_contains "-a has the SMART/Health log" "SMART/Health Information (NVMe Log 0x02)"
expect_contains "-a has the error log" "Error Information (NVMe Log 0x01"
expect_not_contains "-a on the controller node lists no LBA formats" "Supported LBA Sizes"

run $SMART -x $DEV/nvme0
expect_status "-x on the controller node succeeds" 0
expect_field "-x serial" "Serial Number" "NVCCONF0000042"
expect_contains "-x health PASSED" "test result: PASSED"

run $SMART -j -a $DEV/nvme0
expect_status "-j -a on the controller node succeeds" 0
expect_json "json exit_status" .smartctl.exit_status 0
expect_json "json model_name" .model_name "nvmecuse Conformance SSD"
expect_json "json serial_number" .serial_number "NVCCONF0000042"
expect_json "json firmware_version" .firmware_version "2.5.1"
expect_json "json pci vendor id" .nvme_pci_vendor.id 7086
expect_json "json total capacity" .nvme_total_capacity 68719476736
expect_json "json number of namespaces" .nvme_number_of_namespaces 16
expect_json "json smart_status.passed" .smart_status.passed true
expect_json "json temperature" .temperature.current 40
expect_json "json no namespace on the controller node" .nvme_namespaces null
expect_json "json no user capacity on the controller node" .user_capacity null

# --- namespace nodes ---------------------------------------------------------
run $SMART -a $DEV/nvme0n1
expect_status "-a on nvme0n1 succeeds" 0
expect_field "-a nvme0n1 model" "Model Number" "nvmecuse Conformance SSD"
expect_field "-a nvme0n1 size (1GiB)" "Namespace 1 Size/Capacity" "1,073,741,824 [1.07 GB]"
expect_field "-a nvme0n1 formatted LBA size" "Namespace 1 Formatted LBA Size" "512"
expect_contains "-a nvme0n1 lists its LBA formats" "Supported LBA Sizes (NSID 0x1)"
expect_match "-a nvme0n1: format 0 (512, no metadata) in use" '^ 0 \+ +512 +0 '
expect_contains "-a nvme0n1 health PASSED" "test result: PASSED"

run $SMART -i $DEV/nvme0n2
expect_status "-i on nvme0n2 succeeds" 0
expect_field "-i nvme0n2 size (256MiB)" "Namespace 2 Size/Capacity" "268,435,456 [268 MB]"
expect_field "-i nvme0n2 formatted LBA size" "Namespace 2 Formatted LBA Size" "4096"

run $SMART -x $DEV/nvme0n3
expect_status "-x on nvme0n3 succeeds" 0
expect_field "-x nvme0n3 size (128MiB)" "Namespace 3 Size/Capacity" "134,217,728 [134 MB]"
expect_match "-x nvme0n3: format 5 (4096 + 8 metadata) in use" '^ 5 \+ +4096 +8 '

run $SMART --json=g -a $DEV/nvme0n3
expect_status "--json=g -a on nvme0n3 succeeds" 0
expect_contains "json=g nvme0n3 namespace id" "json.nvme_namespaces[0].id = 3;"
expect_contains "json=g nvme0n3 size bytes" "json.nvme_namespaces[0].size.bytes = 134217728;"
expect_contains "json=g nvme0n3 formatted LBA size" "json.nvme_namespaces[0].formatted_lba_size = 4096;"
expect_contains "json=g nvme0n3 user capacity" "json.user_capacity.bytes = 134217728;"
expect_contains "json=g nvme0n3 model" 'json.model_name = "nvmecuse Conformance SSD";'
expect_contains "json=g nvme0n3 health" "json.smart_status.passed = true;"

run $SMART -j -a $DEV/nvme0n5
expect_status "-j -a on nvme0n5 succeeds" 0
expect_json "json nvme0n5 namespace id" '.nvme_namespaces[0].id' 5
expect_json "json nvme0n5 size (64MiB)" '.nvme_namespaces[0].size.bytes' 67108864
expect_json "json nvme0n5 user capacity blocks" .user_capacity.blocks 131072
expect_json "json nvme0n5 logical block size" .logical_block_size 512

# --- data units after I/O ----------------------------------------------------
# 1 MiB written (2048 x 512 B) is 3 data units (thousands of 512 B, rounded
# up); 512 KiB read (128 x 4 KiB) is 2.
dd if=/dev/urandom of=/tmp/w1m bs=1024 count=1024 2>/dev/null
run nvme write $DEV/nvme0n1 -s 0 -c 2047 -z 1048576 -d /tmp/w1m
expect_status "nvme write of 1 MiB to nvme0n1" 0
run nvme read $DEV/nvme0n2 -s 0 -c 127 -z 524288 -d /tmp/r512k
expect_status "nvme read of 512 KiB from nvme0n2" 0

run $SMART -A $DEV/nvme0
expect_field "-A data units written after 1 MiB" "Data Units Written" "3 [1.53 MB]"
expect_field "-A data units read after 512 KiB" "Data Units Read" "2 [1.02 MB]"
expect_field "-A host write commands" "Host Write Commands" "1"
expect_field "-A host read commands" "Host Read Commands" "1"

run $SMART -j -A $DEV/nvme0n1
expect_json "json data_units_written" .nvme_smart_health_information_log.data_units_written 3
expect_json "json data_units_read" .nvme_smart_health_information_log.data_units_read 2

# --- the error log after a failed read ---------------------------------------
# nvme0n2 has 65536 blocks: LBA 65536 is out of range (status 0x0080, shown
# by smartctl with the phase bit as 0x8100), on whichever I/O queue the
# serving thread that read the request has.
run nvme read $DEV/nvme0n2 -s 65536 -c 0 -z 4096 -d /tmp/rbad
expect_status "nvme read beyond the end of nvme0n2 fails" 1
expect_contains "nvme read beyond the end: LBA Out of Range" "LBA Out of Range"

run $SMART -l error $DEV/nvme0
expect_match "-l error: one entry, I/O queue, LBA 65536, NSID 2" \
  '^ +0 +1 +[1-9][0-9]* +0x[0-9a-f]{4} +0x8100 +0x[0-9a-f]{3} +65536 +2 '
expect_not_contains "-l error: no longer empty" "No Errors Logged"

run $SMART -A $DEV/nvme0n2
expect_field "-A error log entries after the failed read" "Error Information Log Entries" "1"
expect_field "-A the failed read is not a host read" "Host Read Commands" "1"

# smartctl 7.3 has no JSON form of the NVMe error log; the count is there.
run $SMART -j -A $DEV/nvme0n2
expect_json "json num_err_log_entries" .nvme_smart_health_information_log.num_err_log_entries 1
expect_json "json media_errors stays 0" .nvme_smart_health_information_log.media_errors 0

run $SMART -H $DEV/nvme0n1
expect_status "-H still PASSED after an I/O error" 0
expect_contains "-H after the error: PASSED" "test result: PASSED"
finish
