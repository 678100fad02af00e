# Sourced by the guest-side benchmark scripts (bench/vm-bench*.sh): runs
# nvmecuse-perf workloads against several devices and collects one line per
# run in $results ("workload label iops avg_us", or the error's name).
# Expects: $secs (seconds per run), $results (file); optional $size (64m)
# and $rounds (1).

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
# $dev_<LABEL> of every label, one after the other; all of it $rounds times
# (default 1), so that each device's runs are spread over the whole time.
run_workloads() {
  labels=$1
  shift
  round=1
  while [ "$round" -le "${rounds:-1}" ]; do
    for w; do
      name=${w%%:*}
      args=${w#*:}
      # $only (optional): an extended regular expression the name must match.
      echo "$name" | grep -Eq "${only:-.}" || continue
      for d in $labels; do
        eval dev=\$dev_$d
        # shellcheck disable=SC2086
        measure "$name" "$d" "$dev" $args
      done
    done
    echo "vm-bench: round $round done" >&2
    round=$((round + 1))
  done
}

# medians FILE: one line per workload and label of FILE (the lines measure
# writes): the median IOPS and the median latency of its rounds; an error
# in any round stands for the cell.
medians() {
  awk '
    function median(a, k, c,   v, i, j, t) {
      for (i = 1; i <= c; i++) v[i] = a[k, i] + 0
      for (i = 2; i <= c; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
      return c % 2 ? v[(c + 1) / 2] : (v[c / 2] + v[c / 2 + 1]) / 2
    }
    {
      k = $1 " " $2
      if (!(k in n)) order[m++] = k
      n[k]++; iops[k, n[k]] = $3; lat[k, n[k]] = $4
      if ($3 !~ /^[0-9.]+$/) err[k] = $3
    }
    END {
      for (i = 0; i < m; i++) {
        k = order[i]
        if (k in err) print k, err[k], "-"
        else printf "%s %d %.1f\n", k, median(iops, k, n[k]), median(lat, k, n[k])
      }
    }' "$1"
}

# table_awk: the start of an awk program over medians' lines: it reads them
# into iops[WORKLOAD, LABEL] and lat[WORKLOAD, LABEL], the workloads in
# order[0..n-1] as first seen, and defines cell(w, d) ("IOPS (latency)")
# and ratio(a, b) ("-" unless both are positive); a table's END block
# follows it: awk "$table_awk"'END { ... }' FILE.
table_awk='
  { iops[$1, $2] = $3; lat[$1, $2] = $4; if (!($1 in seen)) { seen[$1] = 1; order[n++] = $1 } }
  function cell(w, d) { return lat[w, d] == "-" ? iops[w, d] : sprintf("%s (%s)", iops[w, d], lat[w, d]) }
  function ratio(a, b) { return (a + 0 > 0 && b + 0 > 0) ? sprintf("%.2f", a / b) : "-" }
'
