# The README's main job as it runs in the guest (scripts/main-job.sh): the
# daemon on its default emulated controller, then nvme-cli against it; then
# every command block README.md marks runnable, verbatim (readme-blocks.sh).
# ci-tier: release
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

# A failing block is reported with its text and output, and stops there.
run readme_blocks /vm/readme-failing.md
expect_contains "a failing README line is reported" "not ok - readme-failing.md:7 runs: sh -c 'echo this command fails; exit 3'"
expect_contains "with its output" "#   | this command fails"
expect_not_contains "the rest of its block does not run" "never runs"
expect_contains "the next block runs" "ok - readme-failing.md:12 runs"

readme_machine && readme_blocks
finish
