"""FastMVAE2's damped variance update (``variance_step``, not the paper's) with the step chosen on
training-sentence mixtures, applied to the zoo's test mixtures.

For each N, every ``--steps`` value (and 1, the paper's update) runs on the zoo's re-training
mixtures (training sentences 30001-30020, never tested); the step of best mean SI-SDR
improvement there is applied to the test mixtures, whose rows come from ``zoo_vcc2018.py
--stages evaluate --variance-steps ...`` (run that first), paired against ILRMA and against
the paper's update::

    python egs/vcc2018/local/zoo_variance_step.py --zoo exp/zoo --steps 0.5 0.25 0.1
"""

import argparse
import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo", default="exp/zoo")
    parser.add_argument("--out", default="exp/zoo/variance_step")
    parser.add_argument("--steps", type=float, nargs="+", default=[0.5, 0.25, 0.1])
    parser.add_argument("--n-src", type=int, nargs="+", default=[2, 3])
    parser.add_argument("--room", default="rt300")
    parser.add_argument("--threads", type=int, default=2)
    return parser.parse_args(argv)


def name(step: float) -> str:
    return "fastmvae2" if step == 1 else f"fastmvae2_step{round(100 * step)}"


def training_scores(args, n_src: int) -> pd.Series:
    """Mean SI-SDR improvement of each step's FastMVAE2 on the training-sentence mixtures."""
    sys.path.insert(0, str(Path(__file__).parent))
    import zoo_vcc2018 as zoo

    from asteroid_mvae.data import MixtureDataset
    from asteroid_mvae.evaluation import evaluate

    zoo_args = zoo.parse_args(["--out", args.zoo, "--variance-steps", *map(str, args.steps)])
    wanted = {name(s) for s in [1.0, *args.steps]}
    seps = {k: v for k, v in zoo.separators(zoo_args, Path(args.zoo), n_src).items() if k in wanted}
    dataset = MixtureDataset(Path(args.zoo) / f"mix_train_{n_src}src" / "metadata.csv")
    folder = Path(args.out) / f"train_n{n_src}"
    csv = evaluate(
        seps,
        dataset,
        folder,
        metrics_list=["si_sdr"],
        n_examples=0,
        track_iterations=False,
        stft_config=zoo.stft_config(zoo_args),
        progress=False,
        separator_options={"n_iter": zoo_args.n_iter},
    )
    return pd.read_csv(csv).groupby("method")["si_sdr_imp"].mean()


def paired(values: pd.Series, base: pd.Series) -> str:
    diff = (values - base).dropna()
    return f"{diff.mean():+.2f} ± {diff.std(ddof=1) / np.sqrt(len(diff)):.2f} ({int((diff > 0).sum())}/{len(diff)})"


def main(argv=None):
    logging.basicConfig(level=logging.WARNING)
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    lines = [
        "| N | step on training mixtures: mean SI-SDRi (dB) | chosen step | test: minus ilrma, paired (better) | "
        "test: minus the paper's update (step 1), paired (better) |",
        "|---|---|---|---|---|",
    ]
    for n_src in args.n_src:
        scores = training_scores(args, n_src)
        steps = [1.0, *args.steps]
        chosen = max(steps, key=lambda s: scores.get(name(s), -np.inf))
        test = pd.read_csv(Path(args.zoo) / "eval" / f"{args.room}_n{n_src}" / "all_metrics.csv")
        table = test.pivot_table(index="mixture_id", columns="method", values="si_sdr_imp")
        if name(chosen) not in table:
            raise SystemExit(
                f"no test rows for {name(chosen)}: run zoo_vcc2018.py --stages evaluate --variance-steps first"
            )
        train_cell = ", ".join(f"{s:g}: {scores[name(s)]:.2f}" for s in steps)
        lines.append(
            f"| {n_src} | {train_cell} | {chosen:g} | {paired(table[name(chosen)], table['ilrma'])} | "
            f"{paired(table[name(chosen)], table['fastmvae2'])} |"
        )
    text = "\n".join(lines) + "\n"
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "variance_step.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
