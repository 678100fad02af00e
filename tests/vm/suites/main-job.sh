# The README's main job as it runs in the guest (scripts/main-job.sh): the
# daemon on its default emulated controller, then nvme-cli against it; then
# every command block README.md marks runnable, verbatim (readme-blocks.sh).
. /vm/lib.sh
. /vm/readme-blocks.sh

run sh /vm/main-job.sh nvmecused
expect_status "the main job succeeds" 0
expect_match "the listing shows namespace 1 with its size and format" \
  '^/dev/nvmecuse/nvme0n1 +NVC0000000001 +nvmecuse Emulated NVMe SSD +1 +1\.07 GB +512 B +1\.0\.0$'
expect_match "nvme id-ctrl prints the model" '^mn +: nvmecuse Emulated NVMe SSD *$'
expect_contains "1 MiB is read back identical" "1 MiB read back identical"
expect_match "nvme smart-log counts the write" '^host_write_commands[[:space:]]+: 1$'
expect_match "nvme smart-log counts the read" '^host_read_commands[[:space:]]+: 1$'
if [ -e $DEV/nvme0 ]; then fail "the daemon's nodes are gone afterwards"; else pass "the daemon's nodes are gone afterwards"; fi

readme_machine && readme_blocks
finish
