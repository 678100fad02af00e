# bash completion for nvmecused, nvmecusectl and nvmecuse-perf (installed as
# share/bash-completion/completions/<program>). tests/install/check-install.sh
# checks that every long option of each program's --help (and of each
# nvmecusectl subcommand's) is listed here.

_nvmecused() {
  local cur prev
  cur=${COMP_WORDS[COMP_CWORD]}
  prev=${COMP_WORDS[COMP_CWORD - 1]}
  case $prev in
  --config | -c | --json) COMPREPLY=($(compgen -f -- "$cur")); return ;;
  --log-level) COMPREPLY=($(compgen -W 'trace debug info warn error critical off' -- "$cur")); return ;;
  --log-format) COMPREPLY=($(compgen -W 'auto journal text' -- "$cur")); return ;;
  --ioctl-protocol) COMPREPLY=($(compgen -W 'auto restricted unrestricted' -- "$cur")); return ;;
  --kernel-rules) COMPREPLY=($(compgen -W '6.1 6.2' -- "$cur")); return ;;
  --uid) COMPREPLY=($(compgen -u -- "$cur")); return ;;
  --gid) COMPREPLY=($(compgen -g -- "$cur")); return ;;
  -t | --transport) COMPREPLY=($(compgen -W 'tcp' -- "$cur")); return ;;
  --lock-dir) COMPREPLY=($(compgen -d -- "$cur")); return ;;
  --rpc-socket) COMPREPLY=($(compgen -f -- "$cur")); return ;;
  --attach | --dir | --mode | -a | --traddr | -s | --trsvcid | -n | --nqn | -q | --hostnqn | \
    -I | --hostid | -k | --keep-alive-tmo | --kato | -i | --nr-io-queues | -Q | --queue-size | \
    -S | --dhchap-secret | -C | --dhchap-ctrl-secret | \
    --reconnect-delay | -l | --ctrl-loss-tmo | -F | --fast_io_fail_tmo | --fast-io-fail-tmo | \
    --cuse-threads | --poll-us) return ;;
  esac
  COMPREPLY=($(compgen -W '--help --version --emulate --config --check-config --json --check --attach --dir
    --mode --uid --gid --kernel-rules --log-level --log-format --rpc-socket --no-rpc --lock-dir
    --retry-only --ioctl-protocol
    --cuse-threads --poll-us --transport --traddr --trsvcid --nqn --hostnqn --hostid
    --keep-alive-tmo --kato --nr-io-queues --queue-size --hdr-digest --data-digest --persistent
    --dhchap-secret --dhchap-ctrl-secret
    --reconnect-delay --ctrl-loss-tmo --fast_io_fail_tmo --fast-io-fail-tmo' -- "$cur"))
}
complete -F _nvmecused nvmecused

_nvmecuse_perf() {
  local cur prev
  cur=${COMP_WORDS[COMP_CWORD]}
  prev=${COMP_WORDS[COMP_CWORD - 1]}
  case $prev in
  --rw) COMPREPLY=($(compgen -W 'read write randread randwrite rw randrw' -- "$cur")); return ;;
  --ioctl) COMPREPLY=($(compgen -W 'io64 io submit-io admin-identify' -- "$cur")); return ;;
  --output-format) COMPREPLY=($(compgen -W 'normal json' -- "$cur")); return ;;
  --bs | -b | --numjobs | --threads | -t | --runtime | --time | --number_ios | --ios | \
    --rwmixread | --size | --iodepth | -q) return ;;
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W '--help --version --rw --bs --numjobs --threads --runtime --time
      --number_ios --ios --rwmixread --size --verify --output-format --json --ioctl
      --iodepth' -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "${cur:-/dev/}"))
  fi
}
complete -F _nvmecuse_perf nvmecuse-perf

_nvmecusectl() {
  local cur prev word command=""
  cur=${COMP_WORDS[COMP_CWORD]}
  prev=${COMP_WORDS[COMP_CWORD - 1]}
  for word in "${COMP_WORDS[@]:1:COMP_CWORD-1}"; do
    case $word in
    list | list-subsys | attach | discover | detach | reset | rescan | stats | create-emulated | \
      delete-emulated | save-config | call | bind | give-back) command=$word; break ;;
    esac
  done
  case $prev in
  -S) [ "$command" = attach ] || [ "$command" = discover ] && return; COMPREPLY=($(compgen -f -- "$cur")); return ;;
  --socket | --config) COMPREPLY=($(compgen -f -- "$cur")); return ;;
  -o | --output-format) COMPREPLY=($(compgen -W 'normal json' -- "$cur")); return ;;
  -t | --transport) COMPREPLY=($(compgen -W 'tcp pcie emulated' -- "$cur")); return ;;
  -a | --traddr | -s | --trsvcid | -n | --nqn | -q | --hostnqn | -I | --hostid | \
    -k | --keep-alive-tmo | -i | --nr-io-queues | -Q | --queue-size | -c | --reconnect-delay | \
    -l | --ctrl-loss-tmo | --name | --grace-ms | --dhchap-secret | -C | --dhchap-ctrl-secret) return ;;
  esac
  local options
  case $command in
  "") options='--help --version --socket list list-subsys attach discover detach reset rescan stats
    create-emulated delete-emulated save-config call bind give-back' ;;
  list | list-subsys) options='--help --output-format' ;;
  create-emulated) options='--help --name --config' ;;
  attach) options='--help --transport --traddr --trsvcid --nqn --hostnqn --hostid
    --keep-alive-tmo --nr-io-queues --queue-size --reconnect-delay --ctrl-loss-tmo
    --dhchap-secret --dhchap-ctrl-secret --hdr-digest --data-digest --persistent --name --config
    --no-nodes' ;;
  discover) options='--help --transport --traddr --trsvcid --hostnqn --hostid --dhchap-secret
    --dhchap-ctrl-secret --output-format' ;;
  detach) options='--help --grace-ms' ;;
  bind | give-back)
    if [[ $cur != -* ]]; then
      COMPREPLY=($(compgen -W "$(ls /sys/bus/pci/devices 2>/dev/null)" -- "$cur"))
      return
    fi
    options='--help' ;;
  stats) options='--help --prometheus --interval -i' ;;
  *) options='--help' ;;
  esac
  COMPREPLY=($(compgen -W "$options" -- "$cur"))
}
complete -F _nvmecusectl nvmecusectl
