#!/usr/bin/env bash
# Real-speech studies on VCC2018: every separator of the package on the same mixtures, the
# speaker-open zoo, semi-amortized inference, GASS and frame priors, unsupervised single-channel
# separation, encoder re-training, joint dereverberation. Each stage is one study and writes one
# folder of egs/vcc2018/results/ (the tables docs/results.md is generated from); see README.md.
#
# Usage: ./run.sh [--option value ...]   (paths are taken relative to the directory you call from)
#   e.g. bash egs/vcc2018/run.sh --python .venv/bin/python --stage 1 --stop_stage 1
#        bash egs/vcc2018/run.sh --stage 9 --stop_stage 9 --threads 1
#
# Stages: one study each (CPU hours unless noted; finished work is skipped, trainings resume)
#   1 zoo           CVAE, ACVAE, ChimeraACVAE, re-training; every separator   -> results/zoo_vcc2018
#   2 zoo_rebuild   interference-augmented encoder, re-training data/steps    -> results/zoo_vcc2018_rebuild
#   3 zoo_open      networks trained on LibriSpeech speakers (speaker-open)   -> results/zoo_open
#   4 zoo_refine    semi-amortized inference; speaker-disjoint open zoo        -> results/zoo_refine
#   5 gass          GASS and frame priors, single channel, dry                 -> results/gass_vcc2018
#   6 frame_priors  frame priors as the IP engine's source model (needs 1, 5)  -> results/frame_prior_rooms
#   7 unsupervised  VAE-BSS, MixIT, deep clustering, ConvTasNet, NMF           -> results/unsupervised_vcc2018
#   8 retrain       encoder re-training chain, 1024-point STFT                 -> results/retrain_vcc2018
#   9 dereverb      ILRMA-T / AuxIVA-T / MVAE-T at RT60 0.6 s, N = 2, 3, M = 4 -> results/dereverb*
#  10 arrays        M = N against M = 2N (PCA, OverIVA, Wiener post-filter),
#                   RT60 0.3 and 0.6 s, and MVAE (needs stage 11's CVAE)     -> results/arrays*
#  11 zoo_authors   speaker-open CVAE at the authors' scale (128 frames, 1e-4); MVAE at 10 and 20
#                   steps per iteration (the <= 60 s budget), and its last 10
#                   iterations only after ILRMA (the <= 10 s budget); each
#                   source model's ceiling (fitted to the true powers)         -> results/zoo_authors
#  12 publish       the zoo's FastMVAE2 as a hub folder (asteroid-mvae publish) -> exp_dir/publish
#  13 docs          regenerate docs/results.md from every results folder (seconds)
#
# Options (default):
#   --stage (1) --stop_stage (13)   run stages stage..stop_stage
#   --python (python)               interpreter with asteroid_mvae installed
#   --corpus (../shared/data/vcc2018, from the repository root)   VCC2018: <speaker>/<sentence>.wav|flac
#   --librispeech (../shared/data/librispeech_tc100_1utt)         speaker-folder corpus of stages 3-4
#   --exp_dir (egs/vcc2018/exp)     experiment folders (networks, mixtures, evaluations)
#   --results (egs/vcc2018/results) where the tables go (committed)
#   --threads (2)                   torch threads of every stage

recipe_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$recipe_dir/../.." && pwd)

stage=1
stop_stage=13
python=${python:-python}
corpus=$repo_root/../shared/data/vcc2018
librispeech=$repo_root/../shared/data/librispeech_tc100_1utt
exp_dir=$recipe_dir/exp
results=$recipe_dir/results
threads=2

. "$recipe_dir/utils/parse_options.sh"

set -euo pipefail
if [[ $stage -gt $stop_stage ]]; then
  echo "run.sh: --stage $stage is after --stop_stage $stop_stage: nothing to run" >&2
  exit 1
fi
abs() { realpath -m -- "$1"; }
corpus=$(abs "$corpus"); librispeech=$(abs "$librispeech"); exp_dir=$(abs "$exp_dir"); results=$(abs "$results")
if [[ $python == */* ]]; then python=$(abs "$python"); fi
cd "$repo_root"
scripts=egs/vcc2018/local
open_speakers="VCC2SF1 VCC2SF2 VCC2SM1 VCC2SM2 VCC2TF1 VCC2TM1"
zoo() { "$python" $scripts/zoo_vcc2018.py --corpus "$corpus" --threads "$threads" "$@"; }
run_stage() { [[ $1 -ge $stage && $1 -le $stop_stage ]] && echo "== stage $1: $2"; }

if run_stage 1 "zoo"; then
  zoo --out "$exp_dir/zoo" --chimera-steps 2000 --variance-steps 0.5 0.25 0.1 --results "$results/zoo_vcc2018"
  "$python" $scripts/zoo_iterations.py --zoo "$exp_dir/zoo" --out "$exp_dir/zoo/iterations" --threads "$threads"
  "$python" $scripts/zoo_variance_step.py --zoo "$exp_dir/zoo" --out "$exp_dir/zoo/variance_step" --steps 0.5 0.25 0.1 \
    --threads "$threads"
  cp "$exp_dir/zoo/iterations/iterations.md" "$exp_dir/zoo/variance_step/variance_step.md" "$results/zoo_vcc2018/"
fi

if run_stage 2 "zoo_rebuild"; then
  zoo --out "$exp_dir/zoo_rebuild" --stages speakers cvae chimera chimera_interf --chimera-steps 2000
  zoo --out "$exp_dir/zoo_rebuild" --stages evaluate --rt60 0.3 0.15 --n-src 2 3 \
    --methods ilrma auxiva oracle_ip fastmvae2 fastmvae2_interf --variance-steps
  for sizes_steps in "12 48:300:" "48:1200:_s1200" "48:3000:_s3000"; do
    IFS=: read -r sizes steps tag <<< "$sizes_steps"
    "$python" $scripts/zoo_retrain_scale.py --zoo "$exp_dir/zoo_rebuild" --sizes $sizes --steps "$steps" --tag "$tag" \
      --threads "$threads" > "$exp_dir/zoo_rebuild/retrain_scale${tag}.md"
  done
  zoo --out "$exp_dir/zoo_rebuild" --stages report --results "$results/zoo_vcc2018_rebuild"
fi

if run_stage 3 "zoo_open"; then
  zoo --out "$exp_dir/zoo_open" --train-corpus "$librispeech" --per-speaker 2 --rt60 0.3 --cvae-steps 1200 \
    --chimera-steps 1200 --acvae-steps 300 --stages speakers cvae acvae chimera evaluate report \
    --results "$results/zoo_open"
  if [[ -d $exp_dir/zoo ]]; then
    "$python" $scripts/zoo_compare.py --a "$exp_dir/zoo" --b "$exp_dir/zoo_open" --names closed open \
      > "$results/zoo_open/compare_closed.md"
  fi
fi

if run_stage 4 "zoo_refine"; then
  closed=$exp_dir/zoo_refine_closed; open=$exp_dir/zoo_refine_open
  zoo --out "$closed" --cvae-steps 1200 --chimera-steps 1200 --stages speakers cvae chimera
  zoo --out "$closed" --stages evaluate --rt60 0.3 --methods ilrma auxiva oracle_ip fastmvae2 --variance-steps
  zoo --out "$open" --train-corpus "$librispeech" --open-test-speakers $open_speakers --per-speaker 2 \
    --cvae-steps 1200 --chimera-steps 1200 --stages speakers cvae chimera
  zoo --out "$open" --train-corpus "$librispeech" --open-test-speakers $open_speakers --per-speaker 2 \
    --stages evaluate --rt60 0.3 --methods ilrma auxiva oracle_ip fastmvae2 --variance-steps
  "$python" $scripts/zoo_refine.py --zoo "$closed" --stages select evaluate timing --threads "$threads"
  # the open zoo takes the setting chosen on the closed zoo's training mixtures
  "$python" -c 'import json, sys; c = json.load(open(sys.argv[1])); c["chosen_on"] = sys.argv[3]
import pathlib; p = pathlib.Path(sys.argv[2]); p.parent.mkdir(parents=True, exist_ok=True); p.write_text(json.dumps(c, indent=1))' \
    "$closed/refine/chosen.json" "$open/refine/chosen.json" "the speaker-closed zoo's training mixtures"
  "$python" $scripts/zoo_refine.py --zoo "$open" --stages evaluate --threads "$threads"
  "$python" $scripts/zoo_refine.py --zoo "$closed" --open-zoo "$open" --stages report --results "$results/zoo_refine"
fi

if run_stage 5 "gass"; then
  "$python" $scripts/gass_vcc2018.py --corpus "$corpus" --out "$exp_dir/gass" --results "$results/gass_vcc2018" \
    --threads "$threads"
fi

if run_stage 6 "frame_priors"; then
  "$python" $scripts/frame_prior_rooms.py --mixtures "$exp_dir/zoo/mix_test_2src" --priors "$exp_dir/gass" \
    --corpus "$corpus" --zoo-eval "$exp_dir/zoo/eval/rt300_n2/all_metrics.csv" --n-mixtures 8 \
    --out "$results/frame_prior_rooms" --threads "$threads"
fi

if run_stage 7 "unsupervised"; then
  "$python" $scripts/unsupervised_vcc2018.py --corpus "$corpus" --out "$exp_dir/unsupervised" \
    --results "$results/unsupervised_vcc2018" --threads "$threads"
fi

if run_stage 8 "retrain"; then
  "$python" $scripts/retrain_vcc2018.py --corpus "$corpus" --out "$exp_dir/retrain_vcc2018" --n-fft 1024 --seconds 8 \
    --cvae-steps 800 --chimera-steps 500 --train-mixtures 48 --test-mixtures 48 --test-iter 100 --dropout 0.3 \
    --max-steps 300 --lr 1e-4
  mkdir -p "$results/retrain_vcc2018"
  cp "$exp_dir/retrain_vcc2018/compare/claims.md" "$results/retrain_vcc2018/claims.md"
fi

if run_stage 9 "dereverb"; then
  dereverb() { "$python" $scripts/dereverb_vcc2018.py --corpus "$corpus" --n-mixtures 24 --threads 1 "$@"; }
  dereverb --out "$results/dereverb"
  dereverb --n-src 3 --updates ip1 iss --out "$results/dereverb_n3"
  dereverb --n-src 2 --n-mics 4 --out "$results/dereverb_m4"
  # MVAE-T with the authors'-scale CVAE of stage 11 (its package at step 2100)
  cvae=$exp_dir/zoo_authors/cvae/network_step2100.pt
  if [[ -f $cvae ]]; then
    dereverb --separators mvae --cvae "$cvae" --updates ip1 --against "$results/dereverb" --out "$results/dereverb_mvae"
  fi
  # FastMVAE2-T with stage 11's ChimeraACVAE (a snapshot packaged at step 3100 while it trained)
  chimera=$exp_dir/zoo_authors/chimera/network_step3100.pt
  if [[ -f $chimera ]]; then
    dereverb --separators fastmvae2 --chimera "$chimera" --updates ip1 --against "$results/dereverb" \
      --out "$results/dereverb_fastmvae2"
  fi
fi

if run_stage 10 "arrays"; then
  arrays() { "$python" $scripts/arrays_vcc2018.py --corpus "$corpus" --n-src 2 3 --n-mixtures 24 --threads 1 "$@"; }
  arrays --out "$results/arrays"
  arrays --rt60 0.6 --out "$results/arrays_rt600"
  cvae=$exp_dir/zoo_authors/cvae/network_step2100.pt  # stage 11's CVAE
  if [[ -f $cvae ]]; then
    arrays --separators mvae --forms m_n overiva --cvae "$cvae" --against "$results/arrays" --out "$results/arrays_mvae"
  fi
  chimera=$exp_dir/zoo_authors/chimera/network_step3100.pt  # stage 11's ChimeraACVAE, a snapshot
  if [[ -f $chimera ]]; then
    arrays --separators fastmvae2 --forms m_n overiva --chimera "$chimera" --against "$results/arrays" \
      --out "$results/arrays_fastmvae2"
  fi
fi

if run_stage 11 "zoo_authors"; then
  open_split=(--train-corpus "$librispeech" --per-speaker 2 --open-test-speakers $open_speakers)
  authors=(--out "$exp_dir/zoo_authors" "${open_split[@]}" --segment-frames 128)
  zoo "${authors[@]}" --lr 1e-4 --chimera-lr 1e-5 --cvae-steps 9000 --chimera-steps 9000 --early-stop-patience 5 \
    --stages speakers cvae chimera
  zoo "${authors[@]}" --stages evaluate --rt60 0.3 --n-src 2 3 --methods ilrma oracle_ip mvae mvae_steps20 mvae_last10 \
    --mvae-steps 10 20 --mvae-last 10 --mvae-mixtures 24
  # MVAE's last 10 iterations at 5 Adam steps of 0.02 (chosen on training-sentence mixtures: half the
  # cost of 10 steps of 0.01)
  zoo "${authors[@]}" --stages evaluate --rt60 0.3 --n-src 2 3 --mvae-steps 5 --mvae-lr 0.02 --mvae-last 10 \
    --mvae-tag _s5lr02 --mvae-mixtures 24 --methods mvae_last10_s5lr02
  # FastMVAE2 with snapshots of the ChimeraACVAE packaged while it trained
  for step in 1700 2700 3100 4000 4700; do
    chimera=$exp_dir/zoo_authors/chimera/network_step$step.pt
    [[ -f $chimera ]] || continue
    zoo "${authors[@]}" --stages evaluate --rt60 0.3 --n-src 2 3 --chimera-package "$chimera" --chimera-tag "_s$step" \
      --methods "fastmvae2_s$step" "fastmvae2_ilrma_start_s$step"
  done
  # the CPU alternative: the same distillation at 1e-4, ten times the authors' rate (chimera_lr1e-4);
  # FastMVAE2 with its snapshots on the speaker-open test mixtures of zoo_postfilter (tag _c1e4_s<step>)
  zoo "${authors[@]}" --chimera-lr 1e-4 --chimera-steps 9000 --early-stop-patience 5 --chimera-dir chimera_lr1e-4 \
    --stages chimera
  for step in 800 1100 2400; do
    chimera=$exp_dir/zoo_authors/chimera_lr1e-4/network_step$step.pt
    [[ -f $chimera ]] || continue
    zoo --out "$exp_dir/zoo_postfilter" "${open_split[@]}" --rt60 0.3 --n-src 2 3 --mwf --stages evaluate \
      --chimera-package "$chimera" --chimera-tag "_c1e4_s$step" \
      --methods "fastmvae2_c1e4_s$step" "fastmvae2_c1e4_s${step}_mwf" "fastmvae2_ilrma_start_c1e4_s$step"
  done
  # encoder re-training at the authors' protocol scale: FastMVAE2's iterates 0-30 of 200 mixtures per N
  # of the zoo's training speakers (never the test speakers) in rooms of RT60 0.2-0.4 s, one signal per
  # Adam step, iterations 0-5 weighted 5; on the step-3100 snapshot at the authors' rate and a 10x
  # larger one, on the step-4000 snapshot at the authors' rate (snapshot:rate)
  for run in 3100:1e-5 3100:1e-4 4000:1e-5; do
    step=${run%:*} lr=${run#*:}
    chimera=$exp_dir/zoo_authors/chimera/network_step$step.pt
    [[ -f $chimera ]] || continue
    "$python" $scripts/zoo_retrain_scale.py --zoo "$exp_dir/zoo_authors" --network "$chimera" --sizes 200 \
      --train-rt60 0.2 0.4 --batch-size 1 --steps 20000 --lr "$lr" --early-iterations 6 --early-weight 5 \
      --val-every 2000 --data-tag "_s$step" --tag "_s${step}_lr$lr" --rooms 0.3:2 0.3:3 --threads 1 --data-jobs "$threads" \
      --train-corpus "$librispeech" --per-speaker 2 --open-test-speakers $open_speakers \
      > "$exp_dir/zoo_authors/retrain_protocol_s${step}_lr$lr.md"
  done
  # the same re-training on the 1e-4 ChimeraACVAE's step-1100 snapshot at the authors' rate, on the
  # mixtures of zoo_postfilter (the same speaker-open split), beside that snapshot's FastMVAE2 rows
  for run in 1100:1e-5; do
    step=${run%:*} lr=${run#*:}
    chimera=$exp_dir/zoo_authors/chimera_lr1e-4/network_step$step.pt
    [[ -f $chimera ]] || continue
    "$python" $scripts/zoo_retrain_scale.py --zoo "$exp_dir/zoo_postfilter" --network "$chimera" --sizes 200 \
      --train-rt60 0.2 0.4 --batch-size 1 --steps 20000 --lr "$lr" --early-iterations 6 --early-weight 5 \
      --val-every 2000 --data-tag "_c1e4_s$step" --tag "_c1e4_s${step}_lr$lr" --rooms 0.3:2 0.3:3 --threads 1 \
      --data-jobs "$threads" "${open_split[@]}" > "$exp_dir/zoo_postfilter/retrain_protocol_c1e4_s${step}_lr$lr.md"
    # why it helps at N = 3 and not at N = 2: its fit to the iterates and to the true sources
    "$python" $scripts/zoo_retrain_fit.py --data "$exp_dir/zoo_postfilter/retrain_data_k200_rt200-400_c1e4_s$step" \
      --retrained "$exp_dir/zoo_postfilter/retrained_k200_c1e4_s${step}_lr$lr/network.pt" --threads 1 \
      --table "$results/zoo_postfilter/retrain_fit.md"
  done
  # each scale step's paired effect against the step before (scale.md)
  mkdir -p "$results/zoo_authors"
  "$python" $scripts/zoo_compare.py --a "$exp_dir/zoo_authors" --pairs mvae_s3000:mvae mvae_s4600:mvae_s3000 \
    mvae_last10_s4600:mvae_last10_s3000 fastmvae2_s2700:fastmvae2_s1700 fastmvae2_s3100:fastmvae2_s2700 \
    fastmvae2_s4000:fastmvae2_s3100 fastmvae2_s4700:fastmvae2_s4000 fastmvae2_retrained_k200_s3100_lr1e-5:fastmvae2_s3100 \
    fastmvae2_retrained_k200_s3100_lr1e-4:fastmvae2_s3100 fastmvae2_retrained_k200_s4000_lr1e-5:fastmvae2_s4000 \
    > "$results/zoo_authors/scale.md"
  zoo "${authors[@]}" --stages report --results "$results/zoo_authors"
  # each source model's ceiling: NMF and the CVAE fitted to the true powers (ceilings.md)
  "$python" $scripts/zoo_ceilings.py --zoo "$exp_dir/zoo_authors" --threads 1 --results "$results/zoo_authors"
  # the Wiener post-filter at M = N (every separator's '_mwf' row), chosen or not on 8 training-sentence
  # mixtures per N (eval/*_train) with the step-2100 snapshot of the CVAE, then measured on the same
  # speaker-open test mixtures with that snapshot (tag _s5lr02) and with the final CVAE (_s5lr02_final)
  postfilter=(--out "$exp_dir/zoo_postfilter" "${open_split[@]}" --rt60 0.3 --n-src 2 3 --mwf
    --mvae-steps 5 --mvae-lr 0.02 --mvae-last 10 --mvae-mixtures 24)
  cvae=$exp_dir/zoo_authors/cvae/network_step2100.pt
  if [[ -f $cvae ]]; then
    zoo "${postfilter[@]}" --cvae-package "$cvae" --mvae-tag _s5lr02 --stages evaluate --eval-part train \
      --test-mixtures 8 --methods ilrma ilrma_mwf mvae_last10_s5lr02 mvae_last10_s5lr02_mwf
    zoo "${postfilter[@]}" --cvae-package "$cvae" --mvae-tag _s5lr02 --stages evaluate --methods ilrma ilrma_mwf \
      auxiva auxiva_mwf oracle_ip oracle_ls mvae_last10_s5lr02 mvae_last10_s5lr02_mwf
  fi
  # a snapshot packaged while the CVAE trained (a copy of its checkpoint folder), and the final network
  for step in 4700 final; do
    cvae=$exp_dir/zoo_authors/cvae/network_step$step.pt
    [[ $step == final ]] && cvae=$exp_dir/zoo_authors/cvae/network.pt
    tag=_s5lr02_$step
    [[ $step == final ]] || tag=_s5lr02_s$step
    [[ -f $cvae ]] || continue
    zoo "${postfilter[@]}" --cvae-package "$cvae" --mvae-tag "$tag" --stages evaluate \
      --methods "mvae_last10$tag" "mvae_last10${tag}_mwf"
  done
  # more of MVAE's iterations with the final CVAE (the last 15 or 20 of 60), on the training-sentence
  # mixtures only: they gained nothing there, so the test mixtures keep 10
  if [[ -f $exp_dir/zoo_authors/cvae/network.pt ]]; then
    zoo "${postfilter[@]}" --cvae-package "$exp_dir/zoo_authors/cvae/network.pt" --mvae-tag _s5lr02_final \
      --mvae-last 15 20 --stages evaluate --eval-part train --test-mixtures 8 --methods mvae_last15_s5lr02_final \
      mvae_last15_s5lr02_final_mwf mvae_last20_s5lr02_final mvae_last20_s5lr02_final_mwf
  fi
  if [[ -f $exp_dir/zoo_postfilter/eval/rt300_n2/all_metrics.csv ]]; then
    zoo "${postfilter[@]}" --stages report --results "$results/zoo_postfilter"
    mkdir -p "$results/zoo_postfilter"
    "$python" $scripts/zoo_compare.py --a "$exp_dir/zoo_postfilter" --pairs mvae_last10_s5lr02_mwf:ilrma_mwf \
      mvae_last10_s5lr02_mwf:mvae_last10_s5lr02 ilrma_mwf:ilrma auxiva_mwf:auxiva \
      mvae_last10_s5lr02_s4700_mwf:ilrma_mwf mvae_last10_s5lr02_s4700_mwf:mvae_last10_s5lr02_s4700 \
      mvae_last10_s5lr02_s4700:mvae_last10_s5lr02 mvae_last10_s5lr02_final_mwf:ilrma_mwf \
      mvae_last10_s5lr02_final_mwf:mvae_last10_s5lr02_final mvae_last10_s5lr02_final:mvae_last10_s5lr02_s4700 \
      mvae_last15_s5lr02_final:mvae_last10_s5lr02_final mvae_last20_s5lr02_final:mvae_last10_s5lr02_final \
      mvae_last20_s5lr02_final_mwf:mvae_last10_s5lr02_final_mwf fastmvae2_c1e4_s1100:fastmvae2_c1e4_s800 \
      fastmvae2_ilrma_start_c1e4_s1100:fastmvae2_ilrma_start_c1e4_s800 \
      fastmvae2_retrained_k200_c1e4_s1100_lr1e-5:fastmvae2_c1e4_s1100 fastmvae2_c1e4_s2400:fastmvae2_c1e4_s1100 \
      fastmvae2_ilrma_start_c1e4_s2400:fastmvae2_ilrma_start_c1e4_s1100 > "$results/zoo_postfilter/pairs.md"
  fi
  # other masks for the post-filter, on the training-sentence mixtures only (variants.md; with the
  # step-2100 CVAE, the one the post-filter was chosen with)
  cvae=$exp_dir/zoo_authors/cvae/network_step2100.pt
  if [[ -f $cvae && -d $exp_dir/zoo_postfilter/mix_train_2src ]]; then
    "$python" $scripts/zoo_postfilter_variants.py --zoo "$exp_dir/zoo_postfilter" --cvae-package "$cvae" \
      --threads 1 --results "$results/zoo_postfilter"
  fi
  # the same scale speaker-closed: the twelve VCC2018 speakers' training sentences (the zoo's split),
  # tested on their test sentences with MVAE's setting chosen above
  closed=(--out "$exp_dir/zoo_authors_closed" --segment-frames 128)
  zoo "${closed[@]}" --lr 1e-4 --chimera-lr 1e-5 --cvae-steps 9000 --chimera-steps 9000 --early-stop-patience 5 \
    --stages speakers cvae chimera
  zoo "${closed[@]}" --stages evaluate --rt60 0.3 --n-src 2 3 --mvae-steps 5 --mvae-lr 0.02 --mvae-last 10 \
    --mvae-tag _s5lr02 --mvae-mixtures 24 --mwf --methods ilrma ilrma_mwf auxiva oracle_ip mvae_last10_s5lr02 \
    mvae_last10_s5lr02_mwf fastmvae2 fastmvae2_mwf
  # snapshots of the CVAE packaged while it trained (a copy of its checkpoint folder, packaged there),
  # on 8 training-sentence mixtures per N, then on the test mixtures
  for step in 1806 4386; do
    cvae=$exp_dir/zoo_authors_closed/cvae/network_step$step.pt
    [[ -f $cvae ]] || continue
    for part in "--eval-part train --test-mixtures 8" ""; do
      # shellcheck disable=SC2086
      zoo "${closed[@]}" --stages evaluate --rt60 0.3 --n-src 2 3 --mvae-steps 5 --mvae-lr 0.02 --mvae-last 10 \
        --mvae-tag "_s5lr02_s$step" --mvae-mixtures 24 --cvae-package "$cvae" --mwf $part \
        --methods "mvae_last10_s5lr02_s$step" "mvae_last10_s5lr02_s${step}_mwf"
    done
  done
  zoo "${closed[@]}" --stages report --results "$results/zoo_authors_closed"
  mkdir -p "$results/zoo_authors_closed"
  "$python" $scripts/zoo_compare.py --a "$exp_dir/zoo_authors_closed" --pairs mvae_last10_s5lr02_s1806_mwf:ilrma_mwf \
    mvae_last10_s5lr02_s1806_mwf:mvae_last10_s5lr02_s1806 ilrma_mwf:ilrma mvae_last10_s5lr02_s4386_mwf:ilrma_mwf \
    mvae_last10_s5lr02_s4386:mvae_last10_s5lr02_s1806 > "$results/zoo_authors_closed/pairs.md"
  # MVAE's envelope fallback (fallback='envelope': the ILRMA start's outputs kept where their log
  # envelopes are less correlated; the statistic chosen on the training-sentence mixtures of both
  # zoos), speaker-closed (step-4386 CVAE) and speaker-open (final CVAE), with and without the MWF
  closed_cvae=$exp_dir/zoo_authors_closed/cvae/network_step4386.pt
  open_cvae=$exp_dir/zoo_authors/cvae/network.pt
  if [[ -f $closed_cvae && -f $open_cvae ]]; then
    # the choice of the statistic: eight candidates on the training-sentence mixtures of both zoos
    # (choice_closed.md, choice_open.md), before any test mixture is separated with the fallback
    "$python" $scripts/zoo_fallback_choice.py --zoo "$exp_dir/zoo_authors_closed" --cvae-package "$closed_cvae" \
      --threads 1 --table "$results/zoo_fallback/choice_closed.md"
    "$python" $scripts/zoo_fallback_choice.py --zoo "$exp_dir/zoo_postfilter" --cvae-package "$open_cvae" \
      --threads 1 --table "$results/zoo_fallback/choice_open.md"
    # more of MVAE's fit (initial steps, the latent prior, a gain per frequency) on the same
    # speaker-open training-sentence mixtures (mvae_protocol.md)
    "$python" $scripts/zoo_mvae_protocol.py --zoo "$exp_dir/zoo_postfilter" --cvae-package "$open_cvae" \
      --threads 1 --table "$results/zoo_postfilter/mvae_protocol.md"
    for part in "--eval-part train --test-mixtures 8" ""; do
      # shellcheck disable=SC2086
      zoo "${closed[@]}" --stages evaluate --rt60 0.3 --n-src 2 3 --mvae-steps 5 --mvae-lr 0.02 --mvae-last 10 \
        --mvae-mixtures 24 --mwf --fallback --mvae-tag _s5lr02_s4386 --cvae-package "$closed_cvae" $part \
        --methods mvae_last10_s5lr02_s4386_fb mvae_last10_s5lr02_s4386_fb_mwf
      # shellcheck disable=SC2086
      zoo "${postfilter[@]}" --stages evaluate --fallback --mvae-tag _s5lr02_final --cvae-package "$open_cvae" $part \
        --methods mvae_last10_s5lr02_final_fb mvae_last10_s5lr02_final_fb_mwf mvae_last10_s5lr02_final \
        mvae_last10_s5lr02_final_mwf
    done
    mkdir -p "$results/zoo_fallback"
    {
      echo "## Speaker-closed (step-4386 CVAE)"
      echo
      "$python" $scripts/zoo_compare.py --a "$exp_dir/zoo_authors_closed" --pairs \
        mvae_last10_s5lr02_s4386_fb:mvae_last10_s5lr02_s4386 mvae_last10_s5lr02_s4386_fb:ilrma \
        mvae_last10_s5lr02_s4386:ilrma mvae_last10_s5lr02_s4386_fb_mwf:ilrma mvae_last10_s5lr02_s4386_mwf:ilrma
      echo
      echo "## Speaker-open (final CVAE)"
      echo
      "$python" $scripts/zoo_compare.py --a "$exp_dir/zoo_postfilter" --pairs \
        mvae_last10_s5lr02_final_fb:mvae_last10_s5lr02_final mvae_last10_s5lr02_final_fb:ilrma \
        mvae_last10_s5lr02_final:ilrma mvae_last10_s5lr02_final_fb_mwf:ilrma mvae_last10_s5lr02_final_mwf:ilrma
    } > "$results/zoo_fallback/pairs.md"
  fi
fi

if run_stage 12 "publish"; then
  asteroid_mvae=$(dirname "$python")/asteroid-mvae
  [[ -x $asteroid_mvae ]] || asteroid_mvae=asteroid-mvae
  "$asteroid_mvae" publish "$exp_dir/zoo/chimera/network.pt" --out "$exp_dir/publish/fastmvae2_vcc2018" \
    --metrics "$exp_dir/zoo/eval/rt300_n2/final_metrics.json" --method fastmvae2 --n-src 2 --dataset vcc2018 --recipe vcc2018
fi

if run_stage 13 "docs"; then
  "$python" docs/make_results.py
fi
