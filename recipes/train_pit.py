"""Train a single-channel PIT baseline (ConvTasNet, DPRNN, SepFormer) on reference-mic mixtures.

``python -m recipes.train_pit --model convtasnet --train-csv train.csv --valid-csv valid.csv --out exp/pit_convtasnet
[--conf conf.yml] [--size tiny|standard] [--max-steps N]``; rerun the same command to resume.
Writes ``OUT/best_model.pth``, evaluated with ``--methods convtasnet=OUT/best_model.pth``.
"""
import argparse
import sys
from pathlib import Path

import yaml


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    from asteroid_mvae.baselines import MIXTURE_MODELS

    parser.add_argument("--model", required=True, choices=MIXTURE_MODELS)
    parser.add_argument("--train-csv", required=True)
    parser.add_argument("--valid-csv", default=None)
    parser.add_argument("--out", required=True)
    parser.add_argument("--conf", default=None, help="YAML overrides of asteroid_mvae.baselines.DEFAULT_CONFIG")
    parser.add_argument("--size", choices=["tiny", "small", "standard", "cpu", "paper"], default=None, help="small: deep_clustering; cpu, paper: vaebss")
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--max-epochs", type=int, default=None)
    return parser


def load_config(args) -> dict:
    overrides = {}
    if args.conf:
        if not Path(args.conf).is_file():
            raise SystemExit(f"recipes.train_pit: error: config {args.conf} does not exist")
        overrides = yaml.safe_load(Path(args.conf).read_text()) or {}
    overrides["model"] = args.model
    if args.size:
        overrides["size"] = args.size
    trainer = dict(overrides.get("trainer", {}))
    if args.max_steps is not None:
        trainer["max_steps"] = args.max_steps
    if args.max_epochs is not None:
        trainer["max_epochs"] = args.max_epochs
    overrides["trainer"] = trainer
    return overrides


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    for path in [args.train_csv] + ([args.valid_csv] if args.valid_csv else []):
        if not Path(path).is_file():
            print(f"recipes.train_pit: error: mixture CSV {path} does not exist", file=sys.stderr)
            return 2
    from asteroid_mvae.baselines import train_pit

    try:
        from asteroid_mvae.data.datasets import MixtureDataset
    except ImportError as err:
        print(f"recipes.train_pit: error: asteroid_mvae.data.datasets.MixtureDataset unavailable: {err}", file=sys.stderr)
        return 2
    train_set = MixtureDataset(args.train_csv)
    valid_set = MixtureDataset(args.valid_csv) if args.valid_csv else None
    path = train_pit(train_set, args.out, load_config(args), valid_set=valid_set)
    print(f"model: {path}")
    return 0


if __name__ == "__main__":
    from asteroid_mvae.cli import show_package_logs

    show_package_logs()  # progress lines in the stage logs
    sys.exit(main())
