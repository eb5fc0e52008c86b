#!/usr/bin/env bash
# Demo recipe: the whole MVAE / FastMVAE / FastMVAE2 chain on the built-in synthetic corpus
# (no download), sized to finish on 2 CPU cores in under 15 minutes; prints the table.
#
# Usage: ./run.sh [--option value ...]   (from any folder; relative paths are taken from there)
#   e.g. ./run.sh --python ../../.venv/bin/python          (in egs/demo)
#        bash egs/demo/run.sh --python .venv/bin/python    (in the repository root)
#        ./run.sh --stage 8 --stop_stage 9          # re-evaluate and report only
#        ./run.sh --tiny true --exp_dir /tmp/demo   # the CI size (~2 minutes)
#
# Stages:  0 prepare corpora       1 simulate rooms          2 train the CVAE teacher
#          3 train ChimeraACVAE (and ACVAE)                   4 build MVAE/FastMVAE/FastMVAE2
#          5 generate re-training data                        6 re-train the encoder
#          7 train PIT baselines   8 separate and evaluate   9 plots and report   10 publish
#
# Options (default):
#   --stage (0) --stop_stage (100)  run stages stage..stop_stage; finished work is skipped
#   --python (python)               interpreter with asteroid_mvae installed
#   --conf (egs/demo/local/conf.yml)  configuration; its 'tiny' section applies with --tiny true
#   --exp_dir (egs/demo/exp/demo)   experiment folder (data/, models, eval/, logs/, results.md)
#   --data_dir ("" = exp_dir/data)  simulated data sets (share one between experiments)
#   --n_src ("" = conf n_src)       numbers of sources, e.g. "2 3"
#   --methods ("" = conf eval.methods)   methods to evaluate
#   --pit_models ("" = conf pit.models)  PIT baselines to train
#   --source_models ("" = conf)     source models of stages 2-3 (cvae acvae chimera)
#   --jobs (2)                      simulation processes
#   --device (cpu)                  cpu or cuda (training and evaluation)
#   --seed ("" = conf)              base seed of the simulation and the training
#   --tiny (false)                  shrink everything (continuous integration)
#   --set KEY=VALUE (repeatable)    override a configuration key, e.g. --set train.cvae.trainer.max_steps=3000
#   --tag ('')                      experiment tag: exp_dir becomes <exp_dir>_<tag>

recipe_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

stage=0
stop_stage=100
python=${python:-python}
conf=$recipe_dir/local/conf.yml
exp_dir=$recipe_dir/exp/demo
data_dir=
train_root=
test_root=
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
recipe_name=demo

. "$recipe_dir/utils/parse_options.sh"

. "$recipe_dir/utils/chain.sh"

if [[ $stop_stage -ge 9 && $stage -le 9 ]]; then
  echo "Caveat: 3 synthetic test mixtures per N and networks trained for minutes show that the chain works; they cannot rank methods (see the README's real-speech zoo)."
fi
