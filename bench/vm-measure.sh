# Sourced by the guest-side benchmark scripts (bench/vm-bench*.sh): runs
# nvmecuse-perf workloads against several devices and collects one line per
# run in $results ("workload label iops avg_us", or the error's name).
# Expects: $secs (seconds per run), $results (file); optional $size (64m).

# measure NAME LABEL DEVICE PERF_ARGS...: one run.
measure() {
  name=$1 label=$2 dev=$3
  shift 3
  out=$(nvmecuse-perf "$dev" --time "$secs" --size "${size:-64m}" --json "$@" 2>/dev/null)
  err=$(echo "$out" | jq -r '.error // empty' 2>/dev/null)
  if [ -z "$out" ] || [ -n "$err" ]; then
    reason=$(echo "$err" | grep -oE '[A-Z]{4,}' | head -1)
    echo "$name $label ${reason:-FAILED} -" >>"$results"
  else
    echo "$out" | jq -r --arg n "$name" --arg l "$label" '"\($n) \($l) \(.iops | floor) \(.latency_ns.avg / 1000 | . * 10 | round / 10)"' >>"$results"
  fi
}

# run_workloads "LABEL..." "NAME:PERF_ARGS"...: every workload on the device
# $dev_<LABEL> of every label, one after the other.
run_workloads() {
  labels=$1
  shift
  for w; do
    name=${w%%:*}
    args=${w#*:}
    for d in $labels; do
      eval dev=\$dev_$d
      # shellcheck disable=SC2086
      measure "$name" "$d" "$dev" $args
    done
    echo "vm-bench: $name done" >&2
  done
}
