"""Paired comparisons: two zoos on the same test mixtures (speaker-closed vs speaker-open), or
pairs of methods of one zoo (each step of a training's scale against the step before).

Both zoos simulate their test mixtures from the same corpus, sentences and seeds, so each
mixture id is the same signal in both; this prints, per room, N and method, the mean SI-SDR
improvement in each zoo and their paired difference (B minus A) with its standard error::

    python egs/vcc2018/local/zoo_compare.py --a exp/zoo --b exp/zoo_open --names closed open

With ``--pairs NEW:OLD ...`` it prints one table for the zoo ``--a``: per pair and N, the paired
difference NEW minus OLD, the mixtures NEW wins and both J-increase fractions::

    python egs/vcc2018/local/zoo_compare.py --a exp/zoo_authors --pairs fastmvae2_s2700:fastmvae2_s1700
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", required=True, help="first zoo folder (its eval/rt*_n*/all_metrics.csv)")
    parser.add_argument("--b", default=None, help="second zoo folder (required without --pairs)")
    parser.add_argument("--pairs", nargs="+", default=None, help="NEW:OLD methods of the zoo --a")
    parser.add_argument("--names", nargs=2, default=["A", "B"])
    parser.add_argument("--methods", nargs="+", default=None, help="default: the methods both zoos evaluated")
    args = parser.parse_args(argv)
    if (args.b is None) == (args.pairs is None):
        parser.error("give either --b (two zoos) or --pairs (methods of one zoo)")
    if args.pairs and any(len(pair.split(":")) != 2 for pair in args.pairs):
        parser.error("--pairs takes NEW:OLD method names")
    return args


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


def pairs_table(csvs, pairs) -> str:
    """One markdown table: per ``NEW:OLD`` pair, per N of the evaluations ``csvs``
    (``eval/rt300_n<N>/all_metrics.csv``), the paired difference NEW minus OLD (± standard error,
    wins) and the J-increase fractions."""
    from asteroid_mvae.evaluation.report import paired_differences

    frames = {csv.parent.name.split("_n")[1]: pd.read_csv(csv) for csv in csvs}
    lines = [
        "| step (new minus old) | N | mixtures | paired (dB) | better | J-increase fraction new / old |",
        "|---|---|---|---|---|---|",
    ]
    for pair in pairs:
        new, old = pair.split(":")
        for n_src, df in frames.items():
            paired = paired_differences(df, new, old)
            if not paired:
                continue
            jinc = [df[df["method"] == m]["j_increase_fraction"].mean() for m in (new, old)]
            lines.append(
                f"| {new} - {old} | {n_src} | {paired['n']} | {paired['mean']:+.2f} ± {paired['se']:.2f} | "
                f"{paired['wins']}/{paired['n']} | {jinc[0]:.3f} / {jinc[1]:.3f} |"
            )
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    if args.pairs:
        csvs = sorted(Path(args.a, "eval").glob("rt300_n*/all_metrics.csv"))
        if not csvs:
            print(f"zoo_compare.py: error: {Path(args.a, 'eval')} holds no rt300_n*/all_metrics.csv", file=sys.stderr)
            raise SystemExit(2)
        print(pairs_table(csvs, args.pairs))
        return
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
