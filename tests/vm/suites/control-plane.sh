# The control plane: nvmecused started empty; an emulated controller and an
# NVMe/TCP one (Linux nvmet-tcp on 127.0.0.1:4420) attached through
# nvmecusectl; nvmecusectl list against nvme id-ctrl and smartctl on each,
# and its JSON keys against the kernel host's nvme list -o json; discover
# against nvme discover; one detached
# under a running reader while the other keeps serving; the index reused;
# SPDK's methods on the same socket; save-config (mode 0600) and a restart
# from it, with the nodes' mode it declares; SIGHUP reading that file
# again; a clear error once the daemon is gone.
. /vm/lib.sh

SOCK=/run/nvmecuse/nvmecused.sock
subnqn=nqn.2026-11.io.nvmecuse:control-plane
tcp="-t tcp -a 127.0.0.1 -s 4420 -n $subnqn"

export_null_blk $subnqn

nvmecused --log-level info >>/tmp/nvmecused.log 2>&1 &
DAEMON_PID=$!
if wait_for $SOCK && [ "$(stat -c %a $SOCK)" = 600 ]; then
  pass "nvmecused starts empty and serves $SOCK, mode 0600"
else
  fail "nvmecused starts empty and serves $SOCK, mode 0600"
  finish
  exit 1
fi
run nvmecusectl list -o json
expect_json "nothing is attached at start" '.Devices | length' 0

run nvmecusectl attach -t emulated
expect_status "nvmecusectl attach -t emulated" 0
expect_contains "the emulated controller is nvme0" "nvme0: $DEV/nvme0"
run nvmecusectl attach $tcp
expect_status "nvmecusectl attach $tcp" 0
expect_contains "the NVMe/TCP controller is nvme1" "nvme1: $DEV/nvme1"
if wait_for $DEV/nvme0n1 && wait_for $DEV/nvme1n1; then
  pass "both namespace nodes appear"
else
  fail "both namespace nodes appear"
fi

# nvmecusectl list against what each controller says of itself.
run nvmecusectl list -o json
listing=$OUT
run nvmecusectl list
table=$OUT
for n in 0 1; do
  run nvme id-ctrl $DEV/nvme$n -o json
  sn=$(json .sn | sed 's/ *$//')
  mn=$(json .mn | sed 's/ *$//')
  fr=$(json .fr | sed 's/ *$//')
  OUT=$listing
  expect_json "list -o json: nvme${n}n1's SerialNumber is id-ctrl's" \
    ".Devices[] | select(.DevicePath == \"$DEV/nvme${n}n1\") | .SerialNumber" "$sn"
  expect_json "list -o json: nvme${n}n1's ModelNumber is id-ctrl's" \
    ".Devices[] | select(.DevicePath == \"$DEV/nvme${n}n1\") | .ModelNumber" "$mn"
  expect_json "list -o json: nvme${n}n1's Firmware is id-ctrl's" \
    ".Devices[] | select(.DevicePath == \"$DEV/nvme${n}n1\") | .Firmware" "$fr"
  OUT=$table
  expect_match "list: nvme${n}n1's row has id-ctrl's SN" "^$DEV/nvme${n}n1 +$sn "
done
# smartctl on the nodes of controllers attached at run time.
for n in 0 1; do
  run nvme id-ctrl $DEV/nvme$n -o json
  sn=$(json .sn | sed 's/ *$//')
  run smartctl -d nvme -i $DEV/nvme$n
  expect_match "smartctl -i on nvme$n shows id-ctrl's serial number" "^Serial Number: +$sn$"
done
# nvme list -o json of the kernel's own NVMe/TCP host on the same subsystem:
# the keys of its devices are ours, without our Controller, Transport, State.
run nvme connect -t tcp -a 127.0.0.1 -s 4420 -n $subnqn
expect_status "the kernel's host connects too (for nvme list's keys)" 0
for _ in $(seq 50); do nvme list -o json | jq -e '.Devices | length > 0' >/dev/null 2>&1 && break; sleep 0.1; done
run nvme list -o json
kernel_keys=$(json '[.Devices[0] | keys[]] | join(",")')
OUT=$listing
expect_json "list -o json: a device has nvme list -o json's keys ($kernel_keys), plus ours" \
  "[.Devices[0] | del(.Controller, .Transport, .State) | keys[]] | join(\",\")" "$kernel_keys"
nvme disconnect -n $subnqn >/dev/null
# discover lists what nvme discover lists: every record and field, the
# generation counter, and the same text.
run nvme discover -t tcp -a 127.0.0.1 -s 4420 -o json
kernel_nqns=$(json '[.records[] | select(.subtype == "nvme subsystem") | .subnqn] | sort | join(",")')
records='{genctr: .genctr, records: (.records | sort_by(.subnqn, .traddr, .trsvcid) | map(to_entries | sort_by(.key) | from_entries))}'
kernel_log=$(json "$records | tojson")
run nvmecusectl discover -t tcp -a 127.0.0.1 -s 4420 -o json
expect_json "discover -o json: the NVM subsystems nvme discover lists ($kernel_nqns)" \
  '[.records[] | select(.subtype == "nvme subsystem") | .subnqn] | sort | join(",")' "$kernel_nqns"
expect_json "discover -o json: nvme discover -o json's records, every field, and its genctr" \
  "$records | tojson" "$kernel_log"
kernel_text=$(nvme discover -t tcp -a 127.0.0.1 -s 4420 2>&1)
run nvmecusectl discover -t tcp -a 127.0.0.1 -s 4420
expect_match "discover: the log as nvme discover prints it" "^subnqn: +$subnqn$"
expect_eq "discover: nvme discover's text, line for line" "$OUT" "$kernel_text"
expect_eq "discover attaches nothing" "$(nvmecusectl list -o json | jq '.Devices | length')" 2
OUT=$table
expect_match "list: nvme0n1 is emulated and live" "^$DEV/nvme0n1 .* emulated +live$"
expect_match "list: nvme1n1 is tcp and live" "^$DEV/nvme1n1 .* tcp +live$"
run nvmecusectl list-subsys
expect_contains "list-subsys: nvme1's subsystem" "nvme-subsys1 - NQN=$subnqn"
expect_contains "list-subsys: nvme1's path" " +- nvme1 tcp traddr=127.0.0.1,trsvcid=4420 live"
expect_match "list-subsys: the host NQN it connected with" "^ +hostnqn=nqn\\.2014-08\\.org\\.nvmexpress:uuid:"
run nvmecusectl stats --prometheus
expect_match "stats --prometheus: nvme1's answered ioctls (id-ctrl) as a counter sample" \
  "^nvmecuse_ioctls_answered_total\\{controller=\"nvme1\",node=\"$DEV/nvme1\"\\} [1-9][0-9]*$"
missing=""
for sub in list list-subsys attach discover detach reset rescan stats create-emulated delete-emulated save-config call bind give-back; do
  nvmecusectl $sub --help | grep -A1 "^Examples:" | grep -q "^  nvmecusectl $sub" || missing="$missing $sub"
done
expect_eq "each subcommand's --help ends with its own example" "$missing" ""
run nvmecusectl list-subsys -o json
expect_json "list-subsys -o json: nvme1 is a path of its subsystem under its HostNQN" \
  "[.[] | select(.HostNQN | startswith(\"nqn.\")) | .Subsystems[] | select(.NQN == \"$subnqn\") | .Paths[].Name] | join(\",\")" nvme1

# Detach nvme1 under a reader that keeps reading until it gets an error.
rm -f /tmp/reader.done
(
  while nvme read $DEV/nvme1n1 -s 0 -c 7 -z 4096 -d /dev/null >/dev/null 2>&1; do :; done
  echo stopped >/tmp/reader.done
) &
reader=$!
sleep 1
if [ -e /tmp/reader.done ]; then fail "the reader reads before the detach"; else pass "the reader reads before the detach"; fi
run nvmecusectl detach nvme1
expect_status "nvmecusectl detach nvme1 under the reader" 0
if wait_for /tmp/reader.done 100; then
  pass "the reader gets an error, no hang"
else
  fail "the reader gets an error, no hang"
  kill $reader 2>/dev/null
fi
if wait_gone $DEV/nvme1n1 && wait_gone $DEV/nvme1; then pass "nvme1's nodes disappear"; else fail "nvme1's nodes disappear"; fi
run nvme id-ctrl $DEV/nvme0
expect_status "nvme0 keeps serving id-ctrl" 0
run nvme read $DEV/nvme0n1 -s 0 -c 7 -z 4096 -d /dev/null
expect_status "nvme0n1 keeps serving reads" 0

run nvmecusectl attach $tcp
expect_contains "the released index is reused: nvme1 again" "nvme1: $DEV/nvme1"
run nvmecusectl detach nvme1
expect_status "and detached again" 0

# SPDK's rpc.py requests on the same socket.
run nvmecusectl call bdev_nvme_attach_controller \
  "{\"name\": \"Nvme0\", \"trtype\": \"tcp\", \"adrfam\": \"ipv4\", \"traddr\": \"127.0.0.1\", \"trsvcid\": \"4420\", \"subnqn\": \"$subnqn\", \"prchk_reftag\": false, \"prchk_guard\": false}"
expect_status "bdev_nvme_attach_controller" 0
expect_contains "it answers with the bdev names" '"Nvme0n1"'
if [ -e $DEV/nvme1 ]; then fail "no nodes before bdev_nvme_cuse_register"; else pass "no nodes before bdev_nvme_cuse_register"; fi
run nvmecusectl call bdev_nvme_cuse_register '{"name": "Nvme0"}'
expect_status "bdev_nvme_cuse_register" 0
wait_for $DEV/nvme1n1
run nvmecusectl call bdev_nvme_get_controllers '{"name": "Nvme0"}'
expect_json "bdev_nvme_get_controllers carries cuse_device" '.[0].ctrlrs[0].cuse_device' nvmecuse/nvme1
run nvme id-ctrl $DEV/nvme1 -o json
expect_json "id-ctrl on the SPDK-attached controller" .subnqn "$subnqn"
run nvmecusectl call bdev_nvme_detach_controller '{"name": "Nvme0"}'
expect_status "bdev_nvme_detach_controller" 0
if wait_gone $DEV/nvme1; then pass "its nodes disappear"; else fail "its nodes disappear"; fi

# An emulated controller made and deleted at run time; delete refuses NVMe/TCP.
run nvmecusectl create-emulated --name Scratch
expect_contains "create-emulated: Scratch gets the next free index" "Scratch: $DEV/nvme1"
wait_for $DEV/nvme1n1
run nvmecusectl delete-emulated Scratch
expect_status "delete-emulated Scratch" 0
if wait_gone $DEV/nvme1; then pass "Scratch's nodes disappear"; else fail "Scratch's nodes disappear"; fi

# save-config, then a restart from it (--json): the same nodes.
run nvmecusectl attach $tcp
expect_status "the NVMe/TCP controller attached again" 0
wait_for $DEV/nvme1n1
nvmecusectl list | grep "^$DEV/" | awk '{print $1, $2}' | sort >/tmp/list.before
run nvmecusectl delete-emulated nvme1
expect_contains "delete-emulated refuses the NVMe/TCP controller" "not an emulated controller"
run nvmecusectl save-config /tmp/saved.json
expect_status "save-config FILE" 0
[ "$(stat -c %a /tmp/saved.json)" = 600 ] && pass "save-config FILE: mode 0600" || fail "save-config FILE: mode 0600"
# The restart also takes the nodes' mode from the file.
jq '.subsystems[0].config[0].params.mode = "0640"' /tmp/saved.json >/tmp/nvmecused.json
run nvmecused --check -c /tmp/nvmecused.json
expect_contains "nvmecused --check: the saved configuration is OK" "OK (2 controller(s) to attach)"
stop_daemon
nvmecused -c /tmp/nvmecused.json --log-level info >>/tmp/nvmecused.log 2>&1 &
DAEMON_PID=$!
wait_for $DEV/nvme0n1 && wait_for $DEV/nvme1n1 && wait_for $SOCK
nvmecusectl list | grep "^$DEV/" | awk '{print $1, $2}' | sort >/tmp/list.after
if [ -s /tmp/list.before ] && cmp -s /tmp/list.before /tmp/list.after; then
  pass "restarted with --json: the same nodes and serial numbers"
else
  fail "restarted with --json: the same nodes and serial numbers" "$(cat /tmp/list.before)" \
    "$(cat /tmp/list.after)"
fi
[ "$(stat -c %a $DEV/nvme1n1)" = 640 ] && pass "restarted with --json: node_set_options' mode 0640" ||
  fail "restarted with --json: node_set_options' mode 0640" "$(stat -c %a $DEV/nvme1n1)"

# SIGHUP reads the file again: a controller added to it is attached, one
# taken out is detached, the others stay.
cp /tmp/nvmecused.json /tmp/nvmecused.orig.json
jq '.subsystems[0].config += [{"method": "controller_attach",
     "params": {"trtype": "emulated", "name": "Hup"}}]' /tmp/nvmecused.orig.json >/tmp/nvmecused.json
kill -HUP $DAEMON_PID
wait_for $DEV/nvme2n1 && pass "SIGHUP: a controller added to the --json file is attached" ||
  fail "SIGHUP: a controller added to the --json file is attached" "$(tail -5 /tmp/nvmecused.log)"
cp /tmp/nvmecused.orig.json /tmp/nvmecused.json
kill -HUP $DAEMON_PID
for _ in $(seq 100); do [ -e $DEV/nvme2 ] || break; sleep 0.1; done
[ ! -e $DEV/nvme2 ] && pass "SIGHUP: a controller taken out of the file is detached" ||
  fail "SIGHUP: a controller taken out of the file is detached" "$(tail -5 /tmp/nvmecused.log)"
if kill -0 $DAEMON_PID && [ -e $DEV/nvme0n1 ] && [ -e $DEV/nvme1n1 ]; then
  pass "SIGHUP: the daemon and the other controllers stay"
else
  fail "SIGHUP: the daemon and the other controllers stay"
fi

stop_daemon
run nvmecusectl list
expect_status "nvmecusectl list without a daemon exits 3" 3
expect_contains "and says the daemon is not running" "nvmecused is not running"
finish
