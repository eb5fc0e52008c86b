#!/usr/bin/env bash
# The MVAE / FastMVAE / FastMVAE2 chain on any speaker-per-folder corpus
# (<root>/<speaker>/**/*.wav|flac, any sample rate, resampled to 16 kHz): source models and
# encoder re-training on the train root, evaluation on the test root. With one corpus,
# give the same folder twice: the configuration splits its speakers (speaker-open).
#
# Usage: ./run.sh --train_dir DIR --test_dir DIR [--option value ...]
#   e.g. ./run.sh --train_dir /data/vcc2018 --test_dir /data/vcc2018 --python ../../.venv/bin/python
#        ./run.sh --train_dir A --test_dir B --n_src "2" --device cuda
#
# Stages:  0 prepare corpora       1 simulate rooms          2 train the CVAE teacher
#          3 train ChimeraACVAE (and ACVAE)                   4 build MVAE/FastMVAE/FastMVAE2
#          5 generate re-training data                        6 re-train the encoder
#          7 train PIT baselines   8 separate and evaluate   9 plots and report   10 publish
#
# Options (default):
#   --train_dir ()  --test_dir ()   corpus roots (required for stages 0, 1)
#   --stage (0) --stop_stage (100)  run stages stage..stop_stage; finished work is skipped
#   --python (python)               interpreter with asteroid_mvae installed
#   --conf (egs/folder_reverb/local/conf.yml)   configuration (CPU preset)
#   --exp_dir (egs/folder_reverb/exp/folder)   experiment folder
#   --data_dir ("" = exp_dir/data)  simulated data sets (share one between experiments)
#   --n_src ("" = conf n_src: 2 3)  numbers of sources
#   --methods ("" = conf eval.methods)   methods to evaluate
#   --pit_models ("" = conf pit.models)  PIT baselines to train
#   --source_models ("" = conf)     source models of stages 2-3 (cvae acvae chimera)
#   --jobs (2)                      simulation processes
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
exp_dir=$recipe_dir/exp/folder
data_dir=
train_dir=
test_dir=
n_src=
methods=
pit_models=
source_models=
jobs=2
device=cpu
seed=
tiny=false
set_overrides=
tag=
recipe_name=folder_reverb

. "$recipe_dir/utils/parse_options.sh"

train_root=$train_dir
test_root=$test_dir
if [[ $stage -le 1 && ( -z $train_dir || -z $test_dir ) ]]; then
  echo "run.sh: stages 0-1 need --train_dir and --test_dir (see --help)" >&2
  exit 1
fi

. "$recipe_dir/utils/chain.sh"
