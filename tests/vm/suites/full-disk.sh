# A file-backed namespace on a 1 MiB tmpfs, written with nvme-cli until the
# file system is full (issue 21): the writes that do not fit fail with
# Capacity Exceeded, the daemon and its other namespace keep serving, and
# the data written before reads back. Before, the daemon wrote through a
# shared mapping of the sparse file and died of SIGBUS.
. /vm/lib.sh

TINY=/tmp/tiny-fs
mkdir -p $TINY
run mount -t tmpfs -o size=1m tmpfs $TINY
expect_status "a 1 MiB tmpfs is mounted" 0

# ns1: 8 MiB of 4 KiB blocks in a sparse file on the 1 MiB tmpfs; ns2: RAM.
cat >/tmp/full-disk.json <<EOF
{
  "serial": "NVCFULL0000001",
  "total_capacity_bytes": "64MiB",
  "namespaces": [
    { "nsid": 1, "size_bytes": "8MiB", "lba_data_size": 4096, "backing_file": "$TINY/ns1.img" },
    { "nsid": 2, "size_bytes": "16MiB", "lba_data_size": 512 }
  ]
}
EOF
if start_daemon /tmp/full-disk.json; then pass "nvmecused starts"; else fail "nvmecused starts"; finish; exit 1; fi

# 64 KiB chunks (16 blocks) from block 0 on, each with its own random data,
# until a write fails.
chunks=128
written=0
while [ $written -lt $chunks ]; do
  head -c 65536 /dev/urandom >/tmp/chunk.$written
  run nvme write $DEV/nvme0n1 -s $((written * 16)) -c 15 -z 65536 -d /tmp/chunk.$written
  [ "$STATUS" -eq 0 ] || break
  written=$((written + 1))
done
echo "# $written chunks of 64 KiB fitted before the write that failed: $(echo "$OUT" | head -1)"
if [ $written -gt 0 ] && [ $written -lt $chunks ]; then
  pass "writes succeed until the 1 MiB file system is full, then one fails"
else
  fail "writes succeed until the 1 MiB file system is full, then one fails" "$written of $chunks chunks written"
fi
expect_match "the failed write reports Capacity Exceeded, DNR set (status 0x4081)" '0x4081'

if kill -0 "$DAEMON_PID" 2>/dev/null; then pass "the daemon is alive"; else fail "the daemon is alive"; fi
# A second write past the full point fails the same way; the daemon stays.
run nvme write $DEV/nvme0n1 -s $(((written + 1) * 16)) -c 0 -z 4096 -d /tmp/chunk.0
expect_match "a later one-block write also gets Capacity Exceeded" '0x4081'
run nvme id-ctrl $DEV/nvme0
expect_status "the controller still answers Identify" 0

# Everything written before the file system filled up reads back.
bad=""
i=0
while [ $i -lt $written ]; do
  rm -f /tmp/read-back
  run nvme read $DEV/nvme0n1 -s $((i * 16)) -c 15 -z 65536 -d /tmp/read-back
  if [ "$STATUS" -ne 0 ] || ! cmp -s /tmp/chunk.$i /tmp/read-back; then bad="$bad $i"; fi
  i=$((i + 1))
done
if [ -z "$bad" ]; then pass "all $written chunks read back as written"; else fail "all $written chunks read back as written" "chunks that differ:$bad"; fi

# The RAM namespace keeps serving.
head -c 8192 /dev/urandom >/tmp/ram-data
write_read_back "RAM namespace beside the full one" $DEV/nvme0n2 $DEV/nvme0n2 100 15 8192 /tmp/ram-data

# Deallocating a chunk gives its space back to the file system: the write
# that failed now fits.
run nvme dsm $DEV/nvme0n1 --ad -s 0 -b 16
expect_status "deallocate the first chunk" 0
head -c 65536 /dev/urandom >/tmp/chunk.late
write_read_back "a write after deallocation" $DEV/nvme0n1 $DEV/nvme0n1 $((written * 16)) 15 65536 /tmp/chunk.late
rm -f /tmp/read-back
run nvme read $DEV/nvme0n1 -s 0 -c 15 -z 65536 -d /tmp/read-back
head -c 65536 /dev/zero >/tmp/zeroes
same "the deallocated chunk reads as zeroes" /tmp/zeroes /tmp/read-back

stop_daemon
expect_eq "the daemon exits 0 on SIGTERM" "$?" 0
umount $TINY
rm -f /tmp/chunk.* /tmp/ram-data /tmp/zeroes /tmp/read-back
finish
