"""Iteration counts chosen on training-sentence mixtures, applied to the zoo's test curves.

FastMVAE2 and FastMVAE are not majorisation-minimisation methods: on the zoo's RT60 0.3 s room
their SI-SDR peaks after about 15-20 iterations and drifts down while J rises. This picks, for
each method and N, the iteration with the best mean SI-SDR improvement on the zoo's
re-training mixtures (training sentences 30001-30020, never tested), then reads each test
mixture's SI-SDR improvement at that iteration from the test curves (``curves.jsonl`` of
``zoo_vcc2018.py --stages evaluate``) and prints paired differences against ILRMA (whose own
count is chosen the same way)::

    python egs/vcc2018/local/zoo_iterations.py --zoo exp/zoo --out exp/zoo/iterations
"""

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

METHODS = ("ilrma", "fastmvae", "fastmvae2", "fastmvae2_retrained")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo", default="exp/zoo")
    parser.add_argument("--out", default="exp/zoo/iterations")
    parser.add_argument("--n-src", type=int, nargs="+", default=[2, 3])
    parser.add_argument("--rooms", nargs="+", default=["rt300", "rt150"], help="test rooms (eval folder prefixes)")
    parser.add_argument("--threads", type=int, default=2)
    return parser.parse_args(argv)


def curves(path: Path) -> dict:
    """{method: {mixture_id: si_sdr_imp per iteration}} of a curves.jsonl."""
    out = {}
    for line in path.read_text().splitlines():
        if line.strip():
            rec = json.loads(line)
            out.setdefault(rec["method"], {})[rec["mixture_id"]] = np.asarray(rec["si_sdr_imp"], dtype=float)
    return out


def validation_curves(args, n_src: int) -> dict:
    """Every method's curves on the training-sentence mixtures of ``n_src`` sources."""
    sys.path.insert(0, str(Path(__file__).parent))
    import zoo_vcc2018 as zoo

    from asteroid_mvae.data import MixtureDataset
    from asteroid_mvae.evaluation import evaluate

    zoo_args = zoo.parse_args(["--out", args.zoo])
    seps = {k: v for k, v in zoo.separators(zoo_args, Path(args.zoo), n_src).items() if k in METHODS}
    dataset = MixtureDataset(Path(args.zoo) / f"mix_train_{n_src}src" / "metadata.csv")
    folder = Path(args.out) / f"train_n{n_src}"
    evaluate(
        seps,
        dataset,
        folder,
        metrics_list=["si_sdr"],
        n_examples=0,
        stft_config=zoo.stft_config(zoo_args),
        progress=False,
        separator_options={"n_iter": zoo_args.n_iter},
    )
    return curves(folder / "curves.jsonl")


def main(argv=None):
    logging.basicConfig(level=logging.WARNING)
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    lines = []
    for n_src in args.n_src:
        chosen = {m: int(np.mean(list(c.values()), 0).argmax()) for m, c in validation_curves(args, n_src).items()}
        for room in args.rooms:
            test_path = Path(args.zoo) / "eval" / f"{room}_n{n_src}" / "curves.jsonl"
            if not test_path.exists():
                continue
            test = curves(test_path)
            base = {mid: c[min(chosen["ilrma"], len(c) - 1)] for mid, c in test["ilrma"].items()}
            lines += [
                f"\n{room}, N = {n_src}: iteration counts chosen on the training-sentence mixtures, "
                f"applied to {len(test['ilrma'])} test mixtures\n",
                "| method | iterations | SI-SDRi (dB) | minus ilrma, paired (dB) | better |",
                "|---|---|---|---|---|",
            ]
            for method in METHODS:
                if method not in test or method not in chosen:
                    continue
                k = chosen[method]
                ids = sorted(set(test[method]) & set(base))
                values = np.array([test[method][i][min(k, len(test[method][i]) - 1)] for i in ids])
                diff = values - np.array([base[i] for i in ids])
                paired = (
                    "" if method == "ilrma" else f"{diff.mean():+.2f} ± {diff.std(ddof=1) / np.sqrt(len(diff)):.2f}"
                )
                better = "" if method == "ilrma" else f"{int((diff > 0).sum())}/{len(diff)}"
                lines.append(f"| {method} | {k} | {values.mean():.2f} | {paired} | {better} |")
    text = "\n".join(lines) + "\n"
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "iterations.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
