# Real nvme-cli 2.3 I/O against the emulated controller of conformance.json:
# data written, read back and compared byte for byte on the 512-byte and
# 4096-byte namespaces (transfers of 1 MiB and past MDTS = 2 MiB, which the
# daemon splits), compare (match and miscompare), flush, write zeroes and
# deallocate (the emulated controller's deallocated blocks read as zeroes:
# DLFEAT = 9), separate (nsid 3) and extended (nsid 5) metadata, io- and
# admin-passthru, and NVME_IOCTL_SUBMIT_IO through nvmecuse-vm-tool.
#
# nvme-cli 2.3's read/write/compare go through NVME_IOCTL_IO_CMD (libnvme's
# nvme_io()), with nblocks taken from -c alone: every call names -c.
# ci-tier: release
. /vm/lib.sh

N=$DEV/nvme0
T=/tmp/io
mkdir -p $T


# zeroes FILE BYTES: FILE holds BYTES zero bytes.
zeroes() { head -c "$2" /dev/zero >"$1"; }

# bytes_at FILE OFFSET COUNT: COUNT bytes of FILE from OFFSET, in hex.
bytes_at() { od -An -tx1 -j "$2" -N "$3" "$1" | tr -d ' \n'; }

if start_daemon /vm/conformance.json --threads 2; then pass "nvmecused starts"; else fail "nvmecused starts"; finish; exit 1; fi

head -c 4194304 /dev/urandom >$T/rand

# --- 512-byte namespace (nsid 1) --------------------------------------------
head -c 4096 $T/rand >$T/w4k
run nvme write ${N}n1 -s 100 -c 7 -z 4096 -d $T/w4k
expect_status "write 8 blocks to nsid 1 succeeds" 0
expect_contains "write reports success" "write: Success"
run nvme read ${N}n1 -s 100 -c 7 -z 4096 -d $T/r4k
expect_status "read 8 blocks from nsid 1 succeeds" 0
expect_contains "read reports success" "read: Success"
same "nsid 1: 4 KiB read back as written" $T/w4k $T/r4k

head -c 1048576 $T/rand >$T/w1m
write_read_back "nsid 1, 1 MiB (2048 blocks)" ${N}n1 ${N}n1 2048 2047 1048576 $T/w1m

# 3 MiB = 6144 blocks: past MDTS (2 MiB), split by the daemon.
head -c 3145728 $T/rand >$T/w3m
write_read_back "nsid 1, 3 MiB (past MDTS)" ${N}n1 ${N}n1 8192 6143 3145728 $T/w3m
# The same blocks through NVME_IOCTL_SUBMIT_IO.
run nvmecuse-vm-tool submit-io ${N}n1 read 8192 6144 512 $T/s3m
expect_eq "SUBMIT_IO read of 3 MiB from nsid 1" "$OUT" "value 0"
same "nsid 1: SUBMIT_IO reads what nvme write wrote" $T/w3m $T/s3m

run nvme compare ${N}n1 -s 8192 -c 6143 -z 3145728 -d $T/w3m
expect_status "compare of 3 MiB that matches: exit status 0" 0
expect_contains "compare that matches reports success" "compare: Success"
# A miscompare in the last part of the split (the last 16 bytes).
cp $T/w3m $T/c3m
dd if=/dev/zero of=$T/c3m bs=16 count=1 seek=196607 conv=notrunc 2>/dev/null
run nvme compare ${N}n1 -s 8192 -c 6143 -z 3145728 -d $T/c3m
expect_status "compare that mismatches: exit status 1" 1
expect_contains "miscompare prints the Compare Failure status" \
  "NVMe status: Compare Failure: The command failed due to a miscompare during a Compare command(0x4285)"
tail -c 512 $T/w1m >$T/c512
run nvme compare ${N}n1 -s 100 -c 0 -z 512 -d $T/c512
expect_status "one-block compare against other data: exit status 1" 1
expect_contains "one-block miscompare prints Compare Failure" "Compare Failure"

run nvme flush ${N}n1
expect_status "flush nsid 1" 0
expect_contains "flush reports success" "NVMe Flush: success"
# IO_CMD on the controller node with several namespaces: EINVAL (kernel
# nvme_dev_user_cmd).
run nvme flush $N -n 1
expect_status "flush through the controller node (4 namespaces) fails" 1
expect_contains "flush on the controller node: EINVAL" "flush: Invalid argument"

# Write Zeroes over the first 1024 blocks of the 3 MiB region.
run nvme write-zeroes ${N}n1 -s 8192 -c 1023
expect_status "write-zeroes 1024 blocks" 0
expect_contains "write-zeroes reports success" "NVME Write Zeroes Success"
run nvme read ${N}n1 -s 8192 -c 1023 -z 524288 -d $T/rz
zeroes $T/z512k 524288
same "written-zeroes blocks read back as zeroes" $T/rz $T/z512k
run nvme read ${N}n1 -s 8191 -c 0 -z 512 -d $T/rb
zeroes $T/z512 512
same "the block before the write-zeroes range still reads as never written" $T/rb $T/z512
run nvme read ${N}n1 -s 9216 -c 0 -z 512 -d $T/ra
dd if=$T/w3m of=$T/x bs=512 skip=1024 count=1 2>/dev/null
same "the block after the write-zeroes range keeps its data" $T/ra $T/x

# Deallocate the next 1024 blocks: the emulated controller reports DLFEAT
# read behaviour 001b (deallocated blocks read as zeroes).
run nvme id-ns ${N}n1
expect_field "id-ns dlfeat: deallocated blocks read zeroes, write zeroes may deallocate" dlfeat 9
run nvme dsm ${N}n1 --ad -s 9216 -b 1024
expect_status "dsm --ad (deallocate) 1024 blocks" 0
expect_contains "dsm reports success" "NVMe DSM: success"
run nvme read ${N}n1 -s 9216 -c 1023 -z 524288 -d $T/rd
same "deallocated blocks read back as zeroes" $T/rd $T/z512k
run nvme read ${N}n1 -s 10240 -c 4095 -z 2097152 -d $T/rrest
dd if=$T/w3m of=$T/x bs=512 skip=2048 count=4096 2>/dev/null
same "blocks after the deallocated range keep their data" $T/rrest $T/x
run nvme dsm ${N}n1 --ad -s 12000,14000 -b 8,8
expect_status "dsm with two ranges" 0
run nvme read ${N}n1 -s 12000 -c 7 -z 4096 -d $T/r
zeroes $T/z4k 4096
same "first of two deallocated ranges reads zeroes" $T/r $T/z4k
run nvme read ${N}n1 -s 14000 -c 7 -z 4096 -d $T/r
same "second of two deallocated ranges reads zeroes" $T/r $T/z4k

# --- 4096-byte namespace (nsid 2) --------------------------------------------
run nvme write ${N}n2 -s 0 -c 0 -z 4096 -d $T/w4k
expect_status "write 1 block to nsid 2 (4 KiB LBA)" 0
run nvme read ${N}n2 -s 0 -c 0 -z 4096 -d $T/r4k
same "nsid 2: one 4 KiB block read back as written" $T/w4k $T/r4k
run nvme write ${N}n2 -s 10 -c 255 -z 1048576 -d $T/w1m
expect_status "write 1 MiB (256 blocks) to nsid 2" 0
run nvme read ${N}n2 -s 10 -c 255 -z 1048576 -d $T/r1m
same "nsid 2: 1 MiB read back as written" $T/w1m $T/r1m
write_read_back "nsid 2, 3 MiB (768 blocks, past MDTS)" ${N}n2 ${N}n2 1000 767 3145728 $T/w3m
run nvme compare ${N}n2 -s 1000 -c 767 -z 3145728 -d $T/w3m
expect_status "nsid 2: compare that matches" 0
run nvme compare ${N}n2 -s 1000 -c 767 -z 3145728 -d $T/c3m
expect_status "nsid 2: compare that mismatches" 1
expect_contains "nsid 2: miscompare prints Compare Failure" "Compare Failure"
run nvme write-zeroes ${N}n2 -s 1000 -c 127
expect_status "nsid 2: write-zeroes 128 blocks" 0
run nvme read ${N}n2 -s 1000 -c 127 -z 524288 -d $T/rz
same "nsid 2: written-zeroes blocks read back as zeroes" $T/rz $T/z512k
run nvme dsm ${N}n2 --ad -s 1128 -b 128
expect_status "nsid 2: dsm deallocate 128 blocks" 0
run nvme read ${N}n2 -s 1000 -c 767 -z 3145728 -d $T/r3m
zeroes $T/x 1048576
dd if=$T/w3m of=$T/x bs=1048576 skip=1 seek=1 count=2 2>/dev/null
same "nsid 2: zeroed and deallocated 1 MiB reads zeroes, the rest its data" $T/r3m $T/x
# SUBMIT_IO on the 4096-byte namespace, past MDTS, read back by nvme-cli.
run nvmecuse-vm-tool submit-io ${N}n2 write 5000 768 4096 $T/w3m
expect_eq "SUBMIT_IO write of 3 MiB to nsid 2" "$OUT" "value 0"
run nvme read ${N}n2 -s 5000 -c 767 -z 3145728 -d $T/r3m
same "nsid 2: nvme read returns what SUBMIT_IO wrote" $T/w3m $T/r3m

# --- separate metadata (nsid 3: 4096 + 8) ------------------------------------
head -c 16 /dev/urandom >$T/m16
run nvme write ${N}n3 -s 4 -c 1 -z 8192 -y 16 -M $T/m16 -d $T/w1m
expect_status "nsid 3: write 2 blocks with 16 bytes of metadata" 0
run nvme read ${N}n3 -s 4 -c 1 -z 8192 -y 16 -M $T/rm16 -d $T/r8k
expect_status "nsid 3: read 2 blocks with metadata" 0
head -c 8192 $T/w1m >$T/x
same "nsid 3: data read back as written" $T/r8k $T/x
same "nsid 3: metadata read back as written" $T/rm16 $T/m16
run nvme read ${N}n3 -s 5 -c 0 -z 4096 -y 8 -M $T/rm8 -d $T/r4k
tail -c 8 $T/m16 >$T/x
same "nsid 3: the second block's metadata alone" $T/rm8 $T/x
head -c 6144 /dev/urandom >$T/m6k
run nvme write ${N}n3 -s 100 -c 767 -z 3145728 -y 6144 -M $T/m6k -d $T/w3m
expect_status "nsid 3: write 3 MiB + 6 KiB metadata (past MDTS)" 0
run nvme read ${N}n3 -s 100 -c 767 -z 3145728 -y 6144 -M $T/rm6k -d $T/r3m
expect_status "nsid 3: read 3 MiB + metadata" 0
same "nsid 3: 3 MiB data read back" $T/r3m $T/w3m
same "nsid 3: 6 KiB metadata read back" $T/rm6k $T/m6k

# --- extended metadata (nsid 5: 512 + 64 interleaved) -------------------------
# The data buffer holds 576 bytes per block.
head -c 4608 $T/rand >$T/w4608
run nvme write ${N}n5 -s 16 -c 7 -z 4608 -d $T/w4608
expect_status "nsid 5: write 8 extended blocks (4608 bytes)" 0
run nvme read ${N}n5 -s 16 -c 7 -z 4608 -d $T/r4608
expect_status "nsid 5: read 8 extended blocks" 0
same "nsid 5: data and interleaved metadata read back" $T/r4608 $T/w4608
run nvmecuse-vm-tool submit-io ${N}n5 read 16 8 576 $T/s4608
expect_eq "nsid 5: SUBMIT_IO read of 8 extended blocks" "$OUT" "value 0"
same "nsid 5: SUBMIT_IO moves 576 bytes per block" $T/s4608 $T/w4608
head -c 3538944 $T/rand >$T/w6k
run nvmecuse-vm-tool submit-io ${N}n5 write 1000 6144 576 $T/w6k
expect_eq "nsid 5: SUBMIT_IO write of 6144 extended blocks (past MDTS)" "$OUT" "value 0"
run nvme read ${N}n5 -s 1000 -c 6143 -z 3538944 -d $T/r6k
same "nsid 5: 6144 extended blocks read back" $T/r6k $T/w6k

# --- io-passthru (NVME_IOCTL_IO_CMD) ------------------------------------------
run nvme io-passthru ${N}n1 -o 0x01 -n 1 -l 4096 -w -i $T/w4k --cdw10=300 --cdw11=0 --cdw12=7
expect_status "io-passthru write (opcode 0x01) of 8 blocks" 0
expect_contains "io-passthru write reports success" "is Success"
nvme io-passthru ${N}n1 -o 0x02 -n 1 -l 4096 -r -b --cdw10=300 --cdw12=7 >$T/p4k 2>$T/err
expect_eq "io-passthru read (opcode 0x02) exit status" "$?" 0
same "io-passthru read returns what io-passthru wrote" $T/p4k $T/w4k
run nvme read ${N}n1 -s 300 -c 7 -z 4096 -d $T/r4k
same "nvme read returns what io-passthru wrote" $T/r4k $T/w4k
nvme io-passthru ${N}n2 -o 0x02 -n 2 -l 1048576 -r -b --cdw10=10 --cdw12=255 >$T/p1m 2>$T/err
expect_eq "io-passthru read of 1 MiB from nsid 2" "$?" 0
same "io-passthru reads nsid 2's data" $T/p1m $T/w1m
run nvme io-passthru $N -o 0x02 -n 2 -l 4096 -r --cdw10=10 --cdw12=0
expect_status "io-passthru on the controller node (4 namespaces) fails" 1
expect_contains "io-passthru on the controller node: EINVAL" "passthru: Invalid argument"
nvme io-passthru ${N}n1 -o 0x02 -n 1 -l 3145728 -r -b --cdw10=8192 --cdw12=6143 >$T/p3m 2>$T/err
expect_eq "io-passthru read of 3 MiB (past MDTS)" "$?" 0
run nvmecuse-vm-tool submit-io ${N}n1 read 8192 6144 512 $T/s3m
same "io-passthru and SUBMIT_IO read the same 3 MiB" $T/p3m $T/s3m
run nvme io-passthru ${N}n1 -o 0x02 -n 2 -l 512 -r
expect_status "io-passthru with another namespace's nsid fails" 1
expect_contains "nvme-cli reports EINVAL for the nsid mismatch" "passthru: Invalid argument"
run nvme io-passthru ${N}n1 -o 0x02 -n 1 -l 512 -r --cdw10=2097152 --cdw12=0
expect_status "io-passthru read past the end: exit status 1" 1
expect_contains "read past the end: LBA Out of Range" "LBA Out of Range"

# --- admin-passthru (NVME_IOCTL_ADMIN_CMD) ------------------------------------
nvme admin-passthru $N -o 0x06 --cdw10=1 -l 4096 -r -b >$T/pid 2>$T/err
expect_eq "admin-passthru Identify Controller exit status" "$?" 0
nvme id-ctrl $N -b >$T/idc 2>$T/err
same "admin-passthru Identify bytes equal id-ctrl -b" $T/pid $T/idc
nvme admin-passthru ${N}n1 -o 0x06 -n 1 --cdw10=0 -l 4096 -r -b >$T/pns 2>$T/err
nvme id-ns ${N}n1 -b >$T/idn 2>$T/err
same "admin-passthru Identify Namespace on nsid 1 equals id-ns -b" $T/pns $T/idn

printf 'nvmecuse-host-id' >$T/hostid
run nvme admin-passthru $N -o 0x09 --cdw10=0x81 --cdw11=1 -l 16 -w -i $T/hostid
expect_status "admin-passthru Set Features host identifier (16 bytes, EXHID)" 0
nvme admin-passthru $N -o 0x0a --cdw10=0x81 --cdw11=1 -l 16 -r -b >$T/rhostid 2>$T/err
expect_eq "admin-passthru Get Features host identifier exit status" "$?" 0
same "host identifier reads back as set" $T/rhostid $T/hostid

# Timestamp 0x0000e8d4a51000 ms (1e12) set by the host.
printf '\000\020\245\324\350\000\000\000' >$T/ts
run nvme admin-passthru $N -o 0x09 --cdw10=0x0e -l 8 -w -i $T/ts
expect_status "admin-passthru Set Features timestamp" 0
nvme admin-passthru $N -o 0x0a --cdw10=0x0e -l 8 -r -b >$T/rts 2>$T/err
expect_eq "admin-passthru Get Features timestamp exit status" "$?" 0
ts_hi=$(bytes_at $T/rts 2 4)
expect_eq "timestamp bytes 5:2 unchanged (less than 65 s elapsed)" "$ts_hi" "a5d4e800"
expect_eq "timestamp attributes: origin 001b (set by Set Features)" "$(bytes_at $T/rts 6 1)" "02"

# --- the other two ways the daemon takes ioctls ----------------------------------
# The runs above used restricted ioctls (chosen as root). The same data
# through unrestricted ioctls (the fast path that falls back on the retry
# protocol) and through the retry protocol alone (SPDK's design: nothing
# past FUSE's 128 KiB).
for protocol in "--ioctl-protocol unrestricted" "--retry-only"; do
  stop_daemon
  # shellcheck disable=SC2086
  if start_daemon /vm/conformance.json $protocol; then pass "nvmecused $protocol starts"; else fail "nvmecused $protocol starts"; continue; fi
  head -c 65536 $T/rand | tail -c 32768 >$T/w32k
  write_read_back "$protocol: nsid 2, 32 KiB" ${N}n2 ${N}n2 50 7 32768 $T/w32k
  run nvme compare ${N}n2 -s 50 -c 7 -z 32768 -d $T/w32k
  expect_status "$protocol: compare that matches" 0
  nvme id-ctrl $N -b >$T/idc2 2>$T/err
  same "$protocol: id-ctrl -b as before" $T/idc2 $T/idc
  run nvme write ${N}n1 -s 2048 -c 2047 -z 1048576 -d $T/w1m
  if [ "$protocol" = "--retry-only" ]; then
    expect_contains "$protocol: a 1 MiB write fails (FUSE's 128 KiB cap)" "Cannot allocate memory"
  else
    expect_status "$protocol: write 1 MiB" 0
    run nvme read ${N}n1 -s 2048 -c 2047 -z 1048576 -d $T/r1m2
    expect_status "$protocol: read 1 MiB" 0
    same "$protocol: 1 MiB read back as written" $T/w1m $T/r1m2
  fi
done

finish
