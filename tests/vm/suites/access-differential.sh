# Differential of access: every ioctl nvme-cli, smartctl and the test tool
# issue, as root and as an unprivileged user whose group may open the nodes,
# on the kernel's own nodes and on ours, with the same errno or NVMe status
# and the same exit status. Both reach one controller: an nvmet-tcp
# subsystem on 127.0.0.1:4420 (null_blk, 512-byte blocks), connected by the
# kernel's NVMe/TCP host (/dev/nvmeX, /dev/ngXn1, /dev/nvmeXn1) and by
# nvmecused --attach --mode 0660 --gid 6 (/dev/nvmecuse/nvme0, nvme0n1), so
# the identify data and the Commands Supported and Effects log that the
# kernel's 6.2+ rules read are the same on both sides.
#
# Whatever kernel the guest boots, the kernel's answer is the reference: on
# 6.1 unprivileged passthrough is refused (CAP_SYS_ADMIN); on 6.2 and later
# nvme_cmd_allowed() lets it through by opcode, CNS, effects and open mode.
#
# Arguments: --clients=DIR: nvme and smartctl from DIR (the guest of the 6.12
# kernel has Debian 13's nvme-cli 2.13 and smartctl 7.4 in /opt/trixie/bin)
# instead of Debian 12's nvme-cli 2.3 and smartctl 7.3, and only their cases
# (the test tool's do not depend on them).
. /vm/lib.sh

for arg; do
  case $arg in
    --clients=*) PATH=${arg#--clients=}:$PATH clients_only=1 ;;
    *) echo "access-differential: unknown argument $arg"; exit 2 ;;
  esac
done
run nvme version
echo "# $OUT"
run smartctl --version
echo "# $(echo "$OUT" | head -1)"

T=nvmecuse-vm-tool
GID=6 # disk: the group given the nodes
subnqn=nqn.2026-11.io.nvmecuse:access
W=/tmp/access
mkdir -p $W
chmod 1777 $W

run uname -r
echo "# kernel $OUT"
if tcp_host_pair $subnqn --mode 0660 --gid $GID; then
  pass "the kernel's host and nvmecused --attach reach the subsystem"
else
  fail "the kernel's host and nvmecused --attach reach the subsystem"
  finish
  exit 1
fi
# The controller node of the connection (the namespace nodes are named after
# the subsystem when native multipath is on).
for c in /sys/class/nvme/nvme*; do
  [ "$(cat $c/transport)" = tcp ] && ctrl_kernel=/dev/${c##*/}
done
block_kernel=/dev/$(basename $dev_kernel | sed 's/^ng/nvme/')
ctrl_ours=$DEV/nvme0
ns_ours=$dev_ours

# The kernel's nodes get what --mode 0660 --gid gives ours.
chgrp $GID $ctrl_kernel $dev_kernel $block_kernel
chmod 0660 $ctrl_kernel $dev_kernel $block_kernel
run stat -c '%a %g' $ctrl_kernel $dev_kernel $block_kernel $ctrl_ours $ns_ours
expect_eq "all five nodes are mode 0660, group $GID" "$(echo $OUT)" \
  "660 $GID 660 $GID 660 $GID 660 $GID 660 $GID"

# mask: device names and the instance numbers in them.
mask() { sed -E 's#(/dev/)?(nvmecuse/)?(nvme|ng)[0-9]+(c[0-9]+)?(n[0-9]+)?#DEV#g'; }

# check WHO NAME 'COMMAND' [KERNEL]: COMMAND (eval'd, with $C the controller
# node and $N the namespace node) on the kernel's nodes, then on ours, as WHO
# (root, or nobody: uid 65534 in group $GID, no capabilities). The exit
# status must agree, and so must the masked output when COMMAND failed or
# is the test tool (one line: "value N", "errno NAME" or "open: NAME"). The
# namespace node is the kernel's generic one unless NSNODE=block. KERNEL:
# the first line the kernel's side must print (an anchor that the case
# tests what it means to, whatever kernel).
check() {
  who=$1 name=$2 cmd=$3 anchor=${4:-}
  [ -n "${clients_only:-}" ] && [ "${cmd#\$T}" != "$cmd" ] && return 0
  as=""
  [ "$who" = nobody ] && as="$T as-user 65534 $GID"
  C=$ctrl_kernel N=$dev_kernel
  [ "${NSNODE:-}" = block ] && N=$block_kernel
  eval "$as $cmd" >$W/k 2>&1
  ks=$?
  C=$ctrl_ours N=$ns_ours
  eval "$as $cmd" >$W/u 2>&1
  us=$?
  mask <$W/k >$W/k.m
  mask <$W/u >$W/u.m
  label="$who: $name"
  [ "${NSNODE:-}" = block ] && label="$label (block node)"
  summary="$(head -1 $W/k.m)"
  if [ -n "$anchor" ] && [ "$(head -1 $W/k.m)" != "$anchor" ]; then
    fail "$label" "the kernel's side printed '$(head -1 $W/k.m)', expected '$anchor'"
  elif [ $ks -ne $us ]; then
    fail "$label" "exit status: kernel $ks, nvmecused $us" "kernel:    $(head -1 $W/k.m)" "nvmecused: $(head -1 $W/u.m)"
  elif { [ $ks -ne 0 ] || [ "${cmd#\$T}" != "$cmd" ]; } && ! cmp -s $W/k.m $W/u.m; then
    fail "$label" "the outputs differ (- kernel, + nvmecused, masked):"
    diff -u $W/k.m $W/u.m | tail -n +3 | head -12 | sed 's/^/#   /'
  else
    pass "$label: exit $ks${summary:+, $summary}"
  fi
}

dd if=/dev/urandom of=$W/w512 bs=512 count=1 2>/dev/null
chmod 0644 $W/w512

# The ioctls of every node, for one user.
cases() {
  who=$1
  # --- the controller node ------------------------------------------------
  check $who "nvme id-ctrl on the controller" 'nvme id-ctrl $C'
  check $who "nvme id-ns -n 1 on the controller" 'nvme id-ns -n 1 $C'
  check $who "nvme list-ns (Identify CNS 02h)" 'nvme list-ns $C'
  check $who "nvme smart-log" 'nvme smart-log $C'
  check $who "nvme get-feature 07h (number of queues)" 'nvme get-feature $C -f 7'
  check $who "nvme get-log effects (05h)" 'nvme get-log $C --log-id=5 --log-len=4096'
  check $who "smartctl -i" 'smartctl -d nvme -i $C'
  check $who "smartctl -H" 'smartctl -d nvme -H $C'
  root_ok=""
  [ $who = root ] && root_ok="value 0"
  for cns in 0 1 2 3 5 6 8; do
    check $who "NVME_IOCTL_ADMIN_CMD Identify CNS $cns, controller node" "\$T ioctl \$C identify-cns=$cns"
  done
  check $who "NVME_IOCTL_ADMIN64_CMD Identify, controller node" '$T ioctl $C admin64-identify'
  check $who "NVME_IOCTL_ADMIN_CMD vendor opcode C0h" '$T ioctl $C admin-vendor'
  check $who "NVME_IOCTL_ADMIN_CMD with flags" '$T ioctl $C admin-flags'
  check $who "NVME_IOCTL_IO_CMD read on the controller node" '$T ioctl $C passthru-read'
  check $who "NVME_IOCTL_ID on the controller node" '$T ioctl $C id'
  check $who "unknown ioctl on the controller node" '$T ioctl $C unknown'
  check $who "BLKGETSIZE64 on the controller node" '$T ioctl $C blkgetsize64'
  check $who "NVME_IOCTL_RESCAN" '$T ioctl $C rescan'
  if [ $who = nobody ]; then
    # As root both would reset the controller; at the end of the suite.
    check $who "NVME_IOCTL_RESET" '$T ioctl $C reset'
    check $who "NVME_IOCTL_SUBSYS_RESET" '$T ioctl $C subsys-reset'
  fi

  # --- the namespace node: the kernel's generic node, then its block node --
  for NSNODE in generic block; do
    check $who "nvme id-ctrl on the namespace" 'nvme id-ctrl $N'
    check $who "nvme id-ns" 'nvme id-ns $N'
    # Long options: nvme-cli 2.13 reads -o as the output format.
    check $who "nvme io-passthru read" \
      'nvme io-passthru $N --opcode=2 --namespace-id=1 --data-len=512 --read --cdw10=8'
    check $who "nvme io-passthru write" \
      "nvme io-passthru \$N --opcode=1 --namespace-id=1 --data-len=512 --write --input-file=$W/w512 --cdw10=24"
    check $who "nvme read" "nvme read \$N -s 8 -c 0 -z 512 -d $W/r512.$who"
    check $who "nvme write" "nvme write \$N -s 16 -c 0 -z 512 -d $W/w512"
    check $who "smartctl -i on the namespace" 'smartctl -d nvme -i $N'
    check $who "NVME_IOCTL_ID" '$T ioctl $N id'
    for cns in 0 1 2; do
      check $who "NVME_IOCTL_ADMIN_CMD Identify CNS $cns, namespace node" "\$T ioctl \$N identify-cns=$cns"
    done
    check $who "NVME_IOCTL_ADMIN_CMD vendor opcode C0h, namespace node" '$T ioctl $N admin-vendor'
    for rw in "" "--write "; do
      mode="read-only"
      [ -n "$rw" ] && mode="read-write"
      for io in passthru-read passthru-write passthru64-read passthru64-write; do
        check $who "$io, $mode open" "\$T $rw ioctl \$N $io" "$root_ok"
      done
      check $who "SUBMIT_IO read, $mode open" "\$T $rw submit-io \$N read 8 1 512 $W/s512.$who" "$root_ok"
      check $who "SUBMIT_IO write, $mode open" "\$T $rw submit-io \$N write 32 1 512 $W/w512" "$root_ok"
    done
    check $who "NVME_IOCTL_RESET on a namespace node" '$T ioctl $N reset'
    check $who "unknown ioctl on a namespace node" '$T ioctl $N unknown'
  done
  NSNODE=block
  check $who "BLKSSZGET" '$T ioctl $N blksszget' "value 512"
  check $who "BLKPBSZGET" '$T ioctl $N blkpbszget' "value 512"
  check $who "BLKGETSIZE" '$T ioctl $N blkgetsize' "value 2097152"
  check $who "BLKGETSIZE64" '$T ioctl $N blkgetsize64' "value 1073741824"
  NSNODE=""
}

cases root
cases nobody

# Root's resets last: both controllers must serve again afterwards.
check root "NVME_IOCTL_RESET" '$T ioctl $C reset'
wait_for $dev_kernel 100
check root "nvme id-ctrl after the reset" 'nvme id-ctrl $C'
check root "nvme read after the reset" "nvme read \$N -s 8 -c 0 -z 512 -d $W/r512.after"
run nvme disconnect -n $subnqn
expect_status "nvme disconnect" 0
finish
