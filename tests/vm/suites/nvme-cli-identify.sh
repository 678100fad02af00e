# nvme-cli 2.3 identify commands against nvmecused on the emulated
# controller of /vm/conformance.json: the values printed must be the ones the
# configuration and the emulated controller (transport/emu) define, and the
# errors the ones the kernel gives on its own nvme nodes.
# ci-tier: release
. /vm/lib.sh

C=$DEV/nvme0

start_conformance_daemon

# count_lines REGEX: how many lines of $OUT match the extended REGEX.
count_lines() { printf '%s\n' "$OUT" | grep -cE -- "$1"; }

# --- id-ctrl ----------------------------------------------------------------
run nvme id-ctrl $C
expect_status "id-ctrl succeeds" 0
expect_field "id-ctrl mn is the configured model" mn "nvmecuse Conformance SSD"
expect_field "id-ctrl sn is the configured serial" sn "NVCCONF0000042"
expect_field "id-ctrl fr is the configured firmware" fr "2.5.1"
expect_field "id-ctrl vid is 7086" vid 0x1bae
expect_field "id-ctrl ssvid is 7086" ssvid 0x1bae
expect_field "id-ctrl mdts is 9" mdts 9
expect_field "id-ctrl nn is max_namespaces" nn 16
expect_field "id-ctrl cntlid" cntlid 0x1
expect_field "id-ctrl ver is NVMe 2.0" ver 0x20000
expect_field "id-ctrl rab" rab 6
expect_field "id-ctrl ieee is the default OUI" ieee 525400
expect_field "id-ctrl oacs: format, firmware, ns management, self-test" oacs 0x1e
expect_field "id-ctrl acl" acl 3
expect_field "id-ctrl aerl" aerl 3
expect_field "id-ctrl frmw: 3 slots, activation without reset" frmw 0x16
expect_field "id-ctrl lpa" lpa 0x26
expect_field "id-ctrl elpe: 64 error log entries" elpe 63
expect_field "id-ctrl npss: 3 power states" npss 2
expect_field "id-ctrl wctemp" wctemp 343
expect_field "id-ctrl cctemp" cctemp 358
expect_field "id-ctrl tnvmcap is 64 GiB" tnvmcap 68719476736
# 64 GiB - (1 GiB + 256 MiB + 128 MiB + 64 MiB)
expect_field "id-ctrl unvmcap is what the namespaces leave" unvmcap 67175972864
expect_field "id-ctrl edstt" edstt 10
expect_field "id-ctrl dsto" dsto 1
expect_field "id-ctrl kas" kas 10
expect_field "id-ctrl sqes" sqes 0x66
expect_field "id-ctrl cqes" cqes 0x44
expect_field "id-ctrl maxcmd" maxcmd 1024
expect_field "id-ctrl oncs" oncs 0xdf
expect_field "id-ctrl vwc: present, flush broadcast" vwc 0x7
expect_field "id-ctrl subnqn follows the configured serial" subnqn "nqn.2024-01.io.nvmecuse:emulated:NVCCONF0000042"
expect_match "id-ctrl ps 0 is 25 W" '^ps +0 : mp:25\.00W operational'
expect_match "id-ctrl ps 2 is 12 W" '^ps +2 : mp:12\.00W operational enlat:200 exlat:500'

run nvme id-ctrl -o json $C
expect_status "id-ctrl -o json succeeds" 0
expect_json "id-ctrl json vid" .vid 7086
expect_json "id-ctrl json ssvid" .ssvid 7086
expect_json "id-ctrl json sn" '.sn | sub(" +$"; "")' NVCCONF0000042
expect_json "id-ctrl json mn" '.mn | sub(" +$"; "")' "nvmecuse Conformance SSD"
expect_json "id-ctrl json fr" '.fr | sub(" +$"; "")' 2.5.1
expect_json "id-ctrl json mdts" .mdts 9
expect_json "id-ctrl json nn" .nn 16
expect_json "id-ctrl json oacs" .oacs 30
expect_json "id-ctrl json tnvmcap" .tnvmcap 68719476736
expect_json "id-ctrl json unvmcap" .unvmcap 67175972864
expect_json "id-ctrl json power states" '.psds | map(.max_power) | join(",")' 2500,1800,1200

# Admin passthrough works on a namespace node as well.
run nvme id-ctrl $DEV/nvme0n3
expect_status "id-ctrl on a namespace node succeeds" 0
expect_field "id-ctrl on a namespace node: same sn" sn "NVCCONF0000042"

# --- id-ns --------------------------------------------------------------------
# check_ns LABEL NSZE FLBAS LBAF MS LBADS NVMCAP: the $OUT of an id-ns.
check_ns() {
  expect_status "$1 succeeds" 0
  expect_field "$1 nsze" nsze "$2"
  expect_field "$1 ncap" ncap "$2"
  expect_field "$1 nuse" nuse "$2"
  expect_field "$1 flbas" flbas "$3"
  expect_field "$1 nlbaf: 8 formats" nlbaf 7
  expect_field "$1 nvmcap" nvmcap "$7"
  expect_match "$1 lbaf $4 (ms $5, lbads $6) in use" "^lbaf +$4 : ms:$5 +lbads:$6 .*\(in use\)"
  expect_eq "$1 exactly one format in use" "$(count_lines '\(in use\)')" 1
}

# 1 GiB of 512-byte blocks
run nvme id-ns $DEV/nvme0n1
check_ns "id-ns nvme0n1" 0x200000 0 0 0 9 1073741824
# 256 MiB of 4096-byte blocks
run nvme id-ns $DEV/nvme0n2
check_ns "id-ns nvme0n2" 0x10000 0x4 4 0 12 268435456
# 128 MiB of 4096-byte blocks with 8 bytes of separate metadata
run nvme id-ns $DEV/nvme0n3
check_ns "id-ns nvme0n3" 0x8000 0x5 5 8 12 134217728
# 64 MiB of 512-byte blocks with 64 bytes of extended metadata (FLBAS bit 4)
run nvme id-ns $DEV/nvme0n5
check_ns "id-ns nvme0n5" 0x20000 0x13 3 64 9 67108864
id_ns5_eui64=$(field eui64)
id_ns5_nguid=$(field nguid)

# The same through the controller node with -n.
run nvme id-ns $C -n 2
check_ns "id-ns nvme0 -n 2" 0x10000 0x4 4 0 12 268435456
id_ns2_eui64=$(field eui64)
id_ns2_nguid=$(field nguid)
run nvme id-ns $C -n 5
check_ns "id-ns nvme0 -n 5" 0x20000 0x13 3 64 9 67108864

run nvme id-ns -o json $DEV/nvme0n3
expect_status "id-ns -o json nvme0n3 succeeds" 0
expect_json "id-ns json nvme0n3 nsze" .nsze 32768
expect_json "id-ns json nvme0n3 flbas" .flbas 5
expect_json "id-ns json nvme0n3 format in use: 4096 + 8" '.lbafs[.flbas % 16] | "\(.ds) \(.ms)"' "12 8"
expect_json "id-ns json nvme0n3 nvmcap" .nvmcap 134217728
expect_json "id-ns json: 8 formats" '.lbafs | length' 8
run nvme id-ns -o json $C -n 5
expect_status "id-ns -o json nvme0 -n 5 succeeds" 0
expect_json "id-ns json nsid 5 nsze" .nsze 131072
expect_json "id-ns json nsid 5 extended metadata (flbas bit 4)" '(.flbas / 16 | floor) % 2' 1
expect_json "id-ns json nsid 5 format in use: 512 + 64" '.lbafs[.flbas % 16] | "\(.ds) \(.ms)"' "9 64"

run sh -c "nvme id-ns -b $DEV/nvme0n1 | wc -c"
expect_eq "id-ns -b is the 4096-byte structure" "$(echo $OUT)" 4096

# Namespace 4 is not allocated: a valid NSID gets a zero-filled structure.
run nvme id-ns $C -n 4
expect_status "id-ns -n 4 (inactive) succeeds" 0
expect_field "id-ns -n 4 nsze is 0" nsze 0
expect_field "id-ns -n 4 nlbaf is 0" nlbaf 0
# NSID 17 is past NN = 16.
run nvme id-ns $C -n 17
expect_status "id-ns -n 17 (past NN) fails" 1
expect_contains "id-ns -n 17: Invalid Namespace or Format" "NVMe status: Invalid Namespace or Format"

# Without -n on the controller node nvme-cli asks NVME_IOCTL_ID, which the
# kernel's controller node refuses with ENOTTY.
run nvme id-ns $C
expect_status "id-ns on the controller node without -n fails" 1
expect_contains "id-ns without -n: ENOTTY from NVME_IOCTL_ID" "get-namespace-id: Inappropriate ioctl for device"

# --- namespace lists ----------------------------------------------------------
all_ns='[   0]:0x1
[   1]:0x2
[   2]:0x3
[   3]:0x5'
run nvme list-ns $C
expect_status "list-ns succeeds" 0
expect_eq "list-ns: active nsids 1 2 3 5" "$OUT" "$all_ns"
run nvme list-ns -a $C
expect_status "list-ns -a succeeds" 0
expect_eq "list-ns -a: allocated nsids 1 2 3 5" "$OUT" "$all_ns"
# nvme-cli asks for the active NSIDs above -n minus one.
run nvme list-ns -n 2 $C
expect_eq "list-ns -n 2: nsids from 2 on" "$OUT" '[   0]:0x2
[   1]:0x3
[   2]:0x5'
run nvme list-ns -n 4 $C
expect_eq "list-ns -n 4: 5 (4 is not allocated)" "$OUT" '[   0]:0x5'
run nvme list-ns $DEV/nvme0n2
expect_eq "list-ns on a namespace node: the controller's list" "$OUT" "$all_ns"

# --- controller lists ---------------------------------------------------------
run nvme list-ctrl $C
expect_status "list-ctrl succeeds" 0
expect_eq "list-ctrl: controller 1" "$OUT" 'num of ctrls present: 1
[   0]:0x1'
run nvme list-ctrl -n 1 $C
expect_eq "list-ctrl -n 1: controller 1 is attached" "$OUT" 'num of ctrls present: 1
[   0]:0x1'

# --- namespace identification descriptors -------------------------------------
run nvme ns-descs $DEV/nvme0n5
expect_status "ns-descs nvme0n5 succeeds" 0
expect_field "ns-descs nvme0n5 eui64 = id-ns eui64" eui64 "$id_ns5_eui64"
expect_field "ns-descs nvme0n5 nguid = id-ns nguid" nguid "$id_ns5_nguid"
expect_match "ns-descs nvme0n5 has a version 4 uuid" '^uuid +: [0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'
expect_field "ns-descs nvme0n5 csi: NVM" csi 0
uuid5=$(field uuid)
run nvme ns-descs $C -n 2
expect_status "ns-descs nvme0 -n 2 succeeds" 0
expect_field "ns-descs -n 2 eui64 = id-ns eui64" eui64 "$id_ns2_eui64"
expect_field "ns-descs -n 2 nguid = id-ns nguid" nguid "$id_ns2_nguid"
if [ -n "$uuid5" ] && [ "$(field uuid)" != "$uuid5" ]; then
  pass "namespaces 2 and 5 have distinct uuids"
else
  fail "namespaces 2 and 5 have distinct uuids" "both '$uuid5'"
fi

# --- get-ns-id ----------------------------------------------------------------
for m in 1 2 3 5; do
  run nvme get-ns-id $DEV/nvme0n$m
  expect_status "get-ns-id nvme0n$m succeeds" 0
  expect_eq "get-ns-id nvme0n$m is $m" "$OUT" "nvme0n$m: namespace-id:$m"
done
run nvme get-ns-id $C
expect_status "get-ns-id on the controller node fails" 1
expect_eq "get-ns-id on the controller node: ENOTTY" "$OUT" "get namespace ID: Inappropriate ioctl for device"

finish
