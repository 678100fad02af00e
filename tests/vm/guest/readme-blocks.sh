# Sourced by a guest suite after lib.sh (suites/main-job.sh): runs every
# block README.md marks "sh runnable" verbatim, in the README's order, as
# root in /vm/repo (README.md and the files its blocks name, as a clone has
# them), and counts the blocks marked "sh runnable not-in-guest: REASON" or
# "sh not-runnable: REASON" with their reason; a shell block with neither
# marker fails. The blocks and their lines come from readme-blocks.awk, the
# markers check-readme-commands.sh reads on the host.
#
# A line runs with sh -c and must exit 0; the first line that does not fails
# its block, with the block's text and the line's output, and the next block
# runs. A line that starts nvmecused (which runs until SIGTERM) runs in the
# background, as the README's "in another shell": it must open its control
# socket and bring up the controller it is given (its node and a namespace
# node), and it serves the blocks that follow until the next nvmecused line
# stops it, or a comment line "# after nvmecused has exited" does.
#
# What a Debian 12 machine the README speaks of has, and the guest has not
# by itself, is set up first (readme_machine).
README_REPO=/vm/repo
README_NQN=nqn.2026-11.io.example:disk

# readme_machine: /var/tmp; a user alice (the README's user to add to a
# group); the kernel's nvme driver on QEMU's NVMe function at 0000:00:04.0
# (tests/vm/run puts it there); an NVMe/TCP target at 192.168.1.7 exporting
# README_NQN on port 4420, with its discovery controller on 8009.
readme_machine() {
  mkdir -p /var/tmp /home/alice
  echo "alice:x:1000:1000::/home/alice:/bin/sh" >>/etc/passwd
  echo "alice:x:1000:" >>/etc/group
  modprobe nvme && kernel_blk 0000:00:04.0 ||
    { fail "the kernel's nvme driver has QEMU's NVMe function at 0000:00:04.0"; return 1; }
  ip addr add 192.168.1.7/32 dev lo || { fail "192.168.1.7 is an address of the guest"; return 1; }
  export_null_blk $README_NQN
  nvmet_port 2 192.168.1.7 4420 $README_NQN && nvmet_port 3 192.168.1.7 8009 $README_NQN ||
    { fail "nvmet listens on 192.168.1.7:4420 and :8009"; return 1; }
  pass "the README's machine: alice, nvme on 0000:00:04.0, a target on 192.168.1.7"
}

# readme_daemon TEXT: stops the daemon a block started before, starts
# this one (a trailing & is the runner's) and waits (20 s) for its control
# socket and, when the line gives it a controller, for that controller's
# node and a namespace node.
readme_daemon() {
  stop_daemon >/dev/null
  echo "--- $1" >>/tmp/nvmecused.log
  command=$(printf '%s\n' "$1" | sed 's/[[:space:]]*&[[:space:]]*\(#.*\)\{0,1\}$//')
  (cd $README_REPO && exec sh -c "exec $command") >>/tmp/nvmecused.log 2>&1 </dev/null &
  DAEMON_PID=$!
  case " $command " in
    *" --emulate "* | *" --attach "* | *" -a "*) serves=yes ;;
    *) serves=no ;;
  esac
  i=0
  until [ -S /run/nvmecuse/nvmecused.sock ] &&
    { [ $serves = no ] || { [ -c $DEV/nvme0 ] && [ -n "$(find $DEV -name 'nvme0n*' -type c 2>/dev/null)" ]; }; }; do
    i=$((i + 1))
    if [ $i -gt 200 ] || ! kill -0 "$DAEMON_PID" 2>/dev/null; then
      OUT=$(sed -n '/^--- /h; /^--- /!H; ${x; p}' /tmp/nvmecused.log)
      return 1
    fi
    sleep 0.1
  done
  OUT="serving $(cd $DEV 2>/dev/null && echo nvme*)"
  return 0
}

# readme_line TEXT: runs one line; sets OUT, returns its status.
readme_line() {
  case $1 in
    "# after nvmecused has exited"*) stop_daemon >/dev/null; OUT="(nvmecused stopped)"; return 0 ;;
    nvmecused\ *--check-config* | nvmecused\ *--help* | nvmecused\ *--version*) ;;
    nvmecused\ *) readme_daemon "$1"; return ;;
  esac
  OUT=$(cd $README_REPO && sh -c "$1" 2>&1 </dev/null)
}

# readme_blocks [FILE]: runs the blocks of FILE (README.md), one check per
# line; prints the counts.
readme_blocks() {
  md=${1:-$README_REPO/README.md}
  name=${md##*/}
  awk -f /vm/readme-blocks.awk "$md" >/tmp/readme-blocks
  blocks_start=$(date +%s)
  ran=0 excluded=0 not_runnable=0 skip=0 block_text=""
  while IFS='	' read -r record number kind reason; do
    if [ "$record" = block ]; then
      block_text="" skip=1
      case $kind in
        guest) ran=$((ran + 1)) skip=0 ;;
        not-in-guest) excluded=$((excluded + 1)); echo "# $name:$number not run in the guest: $reason" ;;
        not-runnable) not_runnable=$((not_runnable + 1)); echo "# $name:$number not runnable: $reason" ;;
        *) fail "$name:$number: a shell block's marker is sh runnable [not-in-guest: REASON] or sh not-runnable: REASON" "${reason:-sh}" ;;
      esac
      continue
    fi
    # A line record: "line NUMBER TEXT" (the text is in $kind and $reason).
    text="$kind${reason:+	$reason}"
    block_text="$block_text
    $text"
    [ $skip = 0 ] || continue
    line_start=$(date +%s)
    if readme_line "$text"; then
      pass "$name:$number runs ($(($(date +%s) - line_start)) s): $text"
    else
      fail "$name:$number runs: $text" "the block so far:$block_text" "its output:"
      show_out
      skip=1
    fi
  done </tmp/readme-blocks
  stop_daemon >/dev/null
  echo "# $name: $ran blocks run in the guest ($(($(date +%s) - blocks_start)) s), $excluded not in the guest, $not_runnable not runnable (reasons above)"
  expect_eq "$name has blocks that run in the guest" "$([ $ran -gt 0 ] && echo yes)" yes
}
