"""Paired comparison of two zoos on the same test mixtures (speaker-closed vs speaker-open).

Both zoos simulate their test mixtures from the same corpus, sentences and seeds, so each
mixture id is the same signal in both; this prints, per room, N and method, the mean SI-SDR
improvement in each zoo and their paired difference (B minus A) with its standard error::

    python egs/vcc2018/local/zoo_compare.py --a exp/zoo --b exp/zoo_open --names closed open
"""

import argparse
from pathlib import Path

import numpy as np
import pandas as pd


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", required=True, help="first zoo folder (its eval/rt*_n*/all_metrics.csv)")
    parser.add_argument("--b", required=True, help="second zoo folder")
    parser.add_argument("--names", nargs=2, default=["A", "B"])
    parser.add_argument("--methods", nargs="+", default=None, help="default: the methods both zoos evaluated")
    return parser.parse_args(argv)


def paired_rows(csv_a: Path, csv_b: Path, methods=None):
    """``(method, mixtures, mean A, mean B, mean B - A, standard error)`` for the common methods."""
    a, b = pd.read_csv(csv_a), pd.read_csv(csv_b)
    common = sorted(set(a["method"]) & set(b["method"])) if methods is None else methods
    rows = []
    for method in common:
        joined = a[a["method"] == method].merge(b[b["method"] == method], on="mixture_id", suffixes=("_a", "_b"))
        if joined.empty:
            continue
        diff = joined["si_sdr_imp_b"] - joined["si_sdr_imp_a"]
        stderr = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else float("nan")
        rows.append(
            (method, len(diff), joined["si_sdr_imp_a"].mean(), joined["si_sdr_imp_b"].mean(), diff.mean(), stderr)
        )
    return rows


def main(argv=None):
    args = parse_args(argv)
    name_a, name_b = args.names
    for folder in sorted(Path(args.b, "eval").glob("rt*_n*")):
        csv_a, csv_b = Path(args.a, "eval", folder.name, "all_metrics.csv"), folder / "all_metrics.csv"
        if not (csv_a.exists() and csv_b.exists()):
            continue
        rt60, n_src = int(folder.name[2:].split("_")[0]) / 1000, folder.name.split("_n")[1]
        print(f"\nRT60 {rt60} s, N = {n_src}:\n")
        print(
            f"| method | mixtures | {name_a} SI-SDRi (dB) | {name_b} SI-SDRi (dB) | "
            f"{name_b} minus {name_a}, paired (dB) |"
        )
        print("|---|---|---|---|---|")
        for method, n, mean_a, mean_b, diff, stderr in paired_rows(csv_a, csv_b, args.methods):
            print(f"| {method} | {n} | {mean_a:.2f} | {mean_b:.2f} | {diff:+.2f} ± {stderr:.2f} |")


if __name__ == "__main__":
    main()
