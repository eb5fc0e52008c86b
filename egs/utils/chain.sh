#!/usr/bin/env bash
# The stages shared by every recipe (sourced by egs/<recipe>/run.sh after its options).
# A recipe sets: recipe_dir stage stop_stage python conf exp_dir data_dir train_root test_root n_src
# jobs device seed tiny methods pit_models source_models recipe_name. Empty list variables
# take their value from the configuration (local/conf.yml). Every stage logs to
# $exp_dir/logs/stage<K>_<name>.log and skips finished work, so rerunning resumes.

set -euo pipefail

log() { echo -e "$(date '+%Y-%m-%d %H:%M:%S') ($(basename "$0")) $*" >&2; }
die() { log "error: $*"; exit 1; }

repo_root=$(cd "$recipe_dir/../.." && pwd)
export PYTHONPATH="$repo_root${PYTHONPATH:+:$PYTHONPATH}"
command -v "$python" > /dev/null 2>&1 || die "python interpreter '$python' not found (use --python PATH)"
[[ -f $conf ]] || die "configuration $conf not found"
[[ $stage =~ ^[0-9]+$ && $stop_stage =~ ^[0-9]+$ ]] || die "--stage and --stop_stage take integers"
[[ $stage -le $stop_stage ]] || die "empty stage range: --stage $stage is after --stop_stage $stop_stage"
if [[ -n ${tag:-} ]]; then
  [[ $tag =~ ^[A-Za-z0-9._-]+$ ]] || die "--tag takes letters, digits, '.', '_' and '-'; got '$tag'"
  exp_dir=${exp_dir}_$tag
fi

# Every step is a command of the one command line, run by --python's interpreter
# (`python -m asteroid_mvae` is the `asteroid-mvae` of that environment, also from a checkout).
asteroid-mvae() { "$python" -m asteroid_mvae "$@"; }

# The configuration of this run, read once: local/conf.yml with its `tiny` section (--tiny true)
# and the --set overrides (checked against the keys the steps read), kept as $exp_dir/conf.yml;
# conf_value[KEY] and conf_flag_lines[SECTION] hold its values for the stages below.
tiny_flag=()
if $tiny; then tiny_flag=(--tiny); fi
set_args=()
if [[ -n ${set_overrides:-} ]]; then
  mapfile -t __overrides <<< "$set_overrides"  # one KEY=VALUE per line (values may hold spaces)
  set_args=(--set "${__overrides[@]}")
fi
mkdir -p "$exp_dir"
if ! conf_shell=$(asteroid-mvae recipe conf --conf "$conf" "${tiny_flag[@]}" "${set_args[@]}" \
    --out "$exp_dir/conf.yml" --shell 2> "$exp_dir/.conf_error"); then
  "$python" -c "import asteroid_mvae" > /dev/null 2>&1 ||
    die "'$python' cannot import asteroid_mvae; pass the project's interpreter, e.g. --python $repo_root/.venv/bin/python (make test builds it)"
  cat "$exp_dir/.conf_error" >&2
  rm -f "$exp_dir/.conf_error"
  die "could not read the configuration $conf${set_args[*]:+ with ${__overrides[*]@Q}}"
fi
rm -f "$exp_dir/.conf_error"
eval "$conf_shell"
conf=$exp_dir/conf.yml  # the steps below read this one (tiny and --set merged in)
conf_get() {  # conf_get KEY [DEFAULT]: a value of the configuration (lists space separated)
  if [[ -v "conf_value[$1]" ]]; then
    echo "${conf_value[$1]}"
  elif [[ $# -ge 2 ]]; then
    echo "$2"
  else
    die "configuration key '$1' is missing in $conf"
  fi
}
conf_flags() {  # conf_flags SECTION: the array `flags` from a flat configuration mapping (--key value ...)
  flags=()
  local text=${conf_flag_lines[$1]:-}
  [[ -z $text ]] || mapfile -t flags <<< "$text"
}

[[ -n $n_src ]] || n_src=$(conf_get n_src 2)
[[ -n $methods ]] || methods=$(conf_get eval.methods "auxiva ilrma")
[[ -n $pit_models ]] || pit_models=$(conf_get pit.models "")
[[ -n $source_models ]] || source_models=$(conf_get source_models "cvae chimera")
data_dir=${data_dir:-$exp_dir/data}
logs=$exp_dir/logs
mkdir -p "$logs"
case $device in
  cpu) accelerator=cpu ;;
  cuda*|gpu) accelerator=gpu ;;
  *) die "--device takes cpu or cuda; got '$device'" ;;
esac
root_args=()
[[ -z $train_root ]] || root_args+=(--train-root "$train_root")
[[ -z $test_root ]] || root_args+=(--test-root "$test_root")
seed_args=()
[[ -z $seed ]] || seed_args=(--seed "$seed")

run_stage() {  # run_stage K NAME: true when K is in [stage, stop_stage]; starts its log
  if [[ $stage -le $1 && $stop_stage -ge $1 ]]; then
    stage_log=$logs/stage$1_$2.log
    log "stage $1: $2 (log: $stage_log)"
    stage_start=$SECONDS
    return 0
  fi
  return 1
}
logged() { "$@" 2>&1 | tee -a "$stage_log"; }  # run a command, output to the screen and the stage log
stage_done() { log "stage $1 done in $((SECONDS - stage_start)) s"; }

network_of() {  # separator name -> network package
  case $1 in
    mvae) echo "$exp_dir/cvae/network.pt" ;;
    fastmvae) echo "$exp_dir/acvae/network.pt" ;;
    fastmvae2) echo "$exp_dir/chimera/network.pt" ;;
    fastmvae2_retrained) echo "$exp_dir/chimera_retrained/network.pt" ;;
    *) return 1 ;;
  esac
}

method_spec() {  # method_spec NAME N: the --methods entry of NAME for N sources
  local name=$1 n=$2 path=""
  case $name in
    convtasnet|dprnn|sepformer) path=$exp_dir/pit/${name}_n$n/best_model.pth
      [[ -f $path ]] || die "$path not found: run stage 7 (PIT baselines) with $name in pit_models" ;;
    mvae|fastmvae|fastmvae2|fastmvae2_retrained) path=$exp_dir/separators/${name}_n$n.pth
      [[ -f $path ]] || die "$path not found: run stage 4 (separators) or 6 (re-training) first" ;;
  esac
  if [[ -n $path ]]; then echo "$name=$path"; else echo "$name"; fi
}

has_word() { [[ " $2 " == *" $1 "* ]]; }

log "recipe $recipe_name: exp_dir=$exp_dir n_src='$n_src' tiny=$tiny device=$device stages $stage..$stop_stage"

if run_stage 0 prepare; then
  logged asteroid-mvae recipe prepare --conf "$conf" "${root_args[@]}" --out "$data_dir"
  stage_done 0
fi

if run_stage 1 simulate; then
  # shellcheck disable=SC2086  # n_src is a list
  logged asteroid-mvae recipe simulate --conf "$conf" "${root_args[@]}" "${seed_args[@]}" \
    --out "$data_dir" --n-src $n_src --jobs "$jobs"
  stage_done 1
fi

train_model() {  # train_model MODEL [--teacher PKG]
  local model=$1; shift
  logged asteroid-mvae recipe train --model "$model" --conf "$conf" "${seed_args[@]}" \
    --data "$data_dir/speakers" --out "$exp_dir/$model" --accelerator "$accelerator" "$@"
}

if run_stage 2 train_cvae; then
  train_model cvae
  stage_done 2
fi

if run_stage 3 train_students; then
  has_word chimera "$source_models" && train_model chimera --teacher "$exp_dir/cvae/network.pt"
  has_word acvae "$source_models" && train_model acvae
  stage_done 3
fi

if run_stage 4 separators; then
  builds=()
  for name in mvae fastmvae fastmvae2; do
    if has_word "$name" "$methods"; then builds+=("$name=$name:$(network_of "$name")"); fi
  done
  if [[ ${#builds[@]} -gt 0 ]]; then
    # shellcheck disable=SC2086
    logged asteroid-mvae recipe build-separators --conf "$conf" --out-dir "$exp_dir/separators" \
      --n-src $n_src --build "${builds[@]}"
  else
    log "no MVAE-family method in '$methods'; nothing to build"
  fi
  stage_done 4
fi

if run_stage 5 retrain_data; then
  conf_flags retrain_data
  csvs=()
  for n in $n_src; do csvs+=("$data_dir/n$n/train/metadata.csv"); done
  logged asteroid-mvae retrain-data --network "$exp_dir/chimera/network.pt" --mixtures "${csvs[@]}" \
    --out "$exp_dir/retrain_data" --jobs "$jobs" "${seed_args[@]}" "${flags[@]}"
  stage_done 5
fi

if run_stage 6 retrain; then
  if [[ -f $exp_dir/chimera_retrained/model.pth ]]; then
    log "$exp_dir/chimera_retrained/model.pth exists; skipping the re-training (delete it to retrain)"
  else
    conf_flags retrain
    logged asteroid-mvae retrain --network "$exp_dir/chimera/network.pt" --data "$exp_dir/retrain_data" \
      --out "$exp_dir/chimera_retrained" --accelerator "$accelerator" "${seed_args[@]}" "${flags[@]}"
  fi
  # shellcheck disable=SC2086
  logged asteroid-mvae recipe build-separators --conf "$conf" --out-dir "$exp_dir/separators" \
    --n-src $n_src --build "fastmvae2_retrained=fastmvae2:$(network_of fastmvae2_retrained)"
  stage_done 6
fi

if run_stage 7 train_pit; then
  for model in $pit_models; do
    for n in $n_src; do
      out=$exp_dir/pit/${model}_n$n
      if [[ -f $out/best_model.pth ]]; then
        log "$out/best_model.pth exists; skipping (delete it to retrain)"
        continue
      fi
      pit_conf=$exp_dir/conf/pit_${model}_n$n.yml
      asteroid-mvae recipe conf --conf "$conf" --set "pit.$model.n_src=$n" --section "pit.$model" --out "$pit_conf"
      logged asteroid-mvae train --model "$model" --data "$data_dir/n$n/train" --valid-data "$data_dir/n$n/valid" \
        --conf "$pit_conf" --accelerator "$accelerator" --out "$out"
    done
  done
  stage_done 7
fi

if run_stage 8 evaluate; then
  metrics=$(conf_get eval.metrics "si_sdr sdr sir sar stoi pesq")
  n_iter=$(conf_get eval.n_iter 60)
  n_examples=$(conf_get eval.n_examples 2)
  track_args=()
  [[ $(conf_get eval.track true) == true ]] || track_args=(--no-track)
  if [[ $(conf_get eval.mwf false) == true ]]; then track_args+=(--mwf); fi  # '<method>_mwf' rows (Wiener post-filter)
  for n in $n_src; do
    specs=()
    for name in $methods; do specs+=("$(method_spec "$name" "$n")"); done
    # shellcheck disable=SC2086
    logged asteroid-mvae evaluate --test-csv "$data_dir/n$n/test/metadata.csv" --out "$exp_dir/eval/n$n" \
      --methods "${specs[@]}" --metrics $metrics --n-iter "$n_iter" --n-examples "$n_examples" \
      --device "$device" --no-report "${track_args[@]}"
  done
  stage_done 8
fi

if run_stage 9 report; then
  eval_dirs=()
  for n in $n_src; do eval_dirs+=("$exp_dir/eval/n$n"); done
  logged asteroid-mvae recipe collect --eval-dirs "${eval_dirs[@]}" --out "$exp_dir/eval/all" --print-table
  cp "$exp_dir/eval/all/results.md" "$exp_dir/results.md.tmp" && mv "$exp_dir/results.md.tmp" "$exp_dir/results.md"
  log "comparison table: $exp_dir/results.md"
  stage_done 9
fi

if run_stage 10 publish; then
  models=() networks=()
  for name in $methods; do
    for n in $n_src; do
      spec=$(method_spec "$name" "$n")
      [[ $spec == *=* ]] || continue  # methods without trained parameters
      models+=("${name}_n$n=${spec#*=}")
      if package=$(network_of "$name"); then networks+=("${name}_n$n=$package"); fi
    done
  done
  if [[ ${#models[@]} -gt 0 ]]; then
    results=()
    [[ -f $exp_dir/results.md ]] && results=(--results "$exp_dir/results.md")
    [[ -f $exp_dir/eval/all/final_metrics.json ]] && results+=(--metrics "$exp_dir/eval/all/final_metrics.json")
    logged asteroid-mvae recipe publish --models "${models[@]}" --networks "${networks[@]}" --conf "$conf" \
      "${results[@]}" --recipe "$recipe_name" --dataset "$recipe_name recipe training set" --out "$exp_dir/publish"
  else
    log "no trained method in '$methods'; nothing to publish"
  fi
  stage_done 10
fi

log "done (stages $stage..$stop_stage)"
