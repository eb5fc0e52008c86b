#!/usr/bin/env bash
# The papers' setup: source models (CVAE teacher, ChimeraACVAE, ACVAE) trained on reverberant
# single speakers of WSJ0 (si_tr_s), the FastMVAE2 encoder re-trained on WSJ0 mixtures,
# every method tested on reverberant JVS mixtures of N = 2 and 3 speakers (speaker-open).
# Training sizes are the paper preset (GPU); evaluation runs on CPU or GPU.
#
# Usage: ./run.sh --wsj0_dir /data/wsj0 --jvs_dir /data/jvs_ver1 [--option value ...]
#   e.g. ./run.sh --wsj0_dir /data/wsj0 --jvs_dir /data/jvs_ver1 --device cuda --jobs 8
#        ./run.sh --wsj0_dir ... --jvs_dir ... --stage 8 --stop_stage 9
#   (WSJ0 .wv1 files need sph2pipe on PATH, or converted .wav files beside them.)
#
# Stages:  0 prepare corpora       1 simulate rooms          2 train the CVAE teacher
#          3 train ChimeraACVAE (and ACVAE)                   4 build MVAE/FastMVAE/FastMVAE2
#          5 generate re-training data                        6 re-train the encoder
#          7 train PIT baselines   8 separate and evaluate   9 plots and report   10 publish
#
# Options (default):
#   --wsj0_dir ()  --jvs_dir ()     corpus roots (required for stages 0, 1)
#   --stage (0) --stop_stage (100)  run stages stage..stop_stage; finished work is skipped
#   --python (python)               interpreter with asteroid_mvae installed
#   --conf (egs/wsj0_jvs_reverb/local/conf.yml)   configuration
#   --exp_dir (egs/wsj0_jvs_reverb/exp/wsj0_jvs)  experiment folder
#   --data_dir ("" = exp_dir/data)  simulated data sets (share one between experiments)
#   --n_src ("" = conf n_src: 2 3)  numbers of sources
#   --methods ("" = conf eval.methods)   methods to evaluate
#   --pit_models ("" = conf pit.models)  PIT baselines to train
#   --source_models ("" = conf)     source models of stages 2-3 (cvae acvae chimera)
#   --jobs (4)                      simulation processes
#   --device (cpu)                  cpu or cuda (training and evaluation)
#   --seed ("" = conf)              base seed of the simulation and the training
#   --tiny (false)                  the configuration's 'tiny' section (a quick check of the chain)
#   --set KEY=VALUE (repeatable)    override a configuration key, e.g. --set train.cvae.trainer.max_steps=3000
#   --tag ('')                      experiment tag: exp_dir becomes <exp_dir>_<tag>

recipe_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

stage=0
stop_stage=100
python=${python:-python}
conf=$recipe_dir/local/conf.yml
exp_dir=$recipe_dir/exp/wsj0_jvs
data_dir=
wsj0_dir=
jvs_dir=
n_src=
methods=
pit_models=
source_models=
jobs=4
device=cpu
seed=
tiny=false
set_overrides=
tag=
recipe_name=wsj0_jvs_reverb

. "$recipe_dir/utils/parse_options.sh"

train_root=$wsj0_dir
test_root=$jvs_dir
if [[ $stage -le 1 && ( -z $wsj0_dir || -z $jvs_dir ) ]]; then
  echo "run.sh: stages 0-1 need --wsj0_dir and --jvs_dir (see --help)" >&2
  exit 1
fi

. "$recipe_dir/utils/chain.sh"
