#!/usr/bin/env bash
# Kaldi-style option parsing, sourced by a recipe after its variables: `. utils/parse_options.sh`.
#
# Every `--some-name VALUE` (or `--some_name=VALUE`) sets the variable `some_name` that the
# sourcing script defined above; an option for an undefined variable is an error. A
# variable holding true/false only accepts true or false. `--help` (or -h) prints the
# sourcing script's header comment (the block of `#` lines after the shebang) and exits 0.
# Positional arguments are left in "$@" for the script. `--set KEY=VALUE` may repeat: each one
# is appended (one per line, so VALUEs may hold spaces: --set "eval.methods=[ilrma, auxiva]")
# to the variable `set_overrides`, when the script defines it; a VALUE without KEY= or with a
# line break is a one-line error.

__po_script=${BASH_SOURCE[1]:-$0}

__po_help() {
  local line started=false
  while IFS= read -r line; do
    if [[ $line == '#!'* ]]; then continue; fi
    if [[ $line == '#'* ]]; then
      started=true
      line=${line#\#}
      printf '%s\n' "${line# }"
    elif $started; then
      break
    fi
  done < "$__po_script"
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --help|-h)
      __po_help
      exit 0 ;;
    --*=*)
      __po_name=${1%%=*}; __po_value=${1#*=}; shift ;;
    --*)
      if [[ $# -lt 2 ]]; then
        echo "$(basename "$__po_script"): option $1 needs a value (see --help)" >&2
        exit 1
      fi
      __po_name=$1; __po_value=$2; shift 2 ;;
    *)
      break ;;
  esac
  __po_name=${__po_name#--}
  __po_name=${__po_name//-/_}
  if [[ $__po_name == set && -n ${set_overrides+set} ]]; then
    if [[ ! $__po_value =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*= || $__po_value == *$'\n'* ]]; then
      echo "$(basename "$__po_script"): --set takes KEY=VALUE on one line (KEY: dotted names); got '${__po_value//$'\n'/ }'" >&2
      exit 1
    fi
    if [[ -n $set_overrides ]]; then
      set_overrides+=$'\n'
    fi
    set_overrides+=$__po_value
    continue
  fi
  if [[ ! $__po_name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || [[ -z ${!__po_name+set} ]]; then
    echo "$(basename "$__po_script"): unknown option --${__po_name} (see --help)" >&2
    exit 1
  fi
  __po_old=${!__po_name}
  if [[ $__po_old == true || $__po_old == false ]] && [[ $__po_value != true && $__po_value != false ]]; then
    echo "$(basename "$__po_script"): option --${__po_name} takes true or false; got '${__po_value}'" >&2
    exit 1
  fi
  printf -v "$__po_name" '%s' "$__po_value"
done
unset __po_name __po_value __po_old
true
