"""Encoder re-training with mixture signals (Yamaji et al.) against the amount of re-training data.

On a zoo built by ``zoo_vcc2018.py`` (its ChimeraACVAE and test mixtures), re-train the encoder
on the first K training-sentence mixtures per N for each K of ``--sizes`` (the same 300 steps at
lr 1e-4 as the zoo's re-training), evaluate each re-trained FastMVAE2 on the zoo's test
mixtures, and print the paired table against ILRMA and against the plain FastMVAE2 (rows
``fastmvae2_retrained_k<K>`` join the zoo's evaluation folders). Every stage resumes.

    python egs/vcc2018/local/zoo_retrain_scale.py --zoo exp/zoo --sizes 12 48
    python egs/vcc2018/local/zoo_retrain_scale.py --zoo exp/zoo --sizes 48 --steps 1200 --tag _s1200
"""

import argparse
import logging
import sys
from pathlib import Path

import zoo_vcc2018 as zoo


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo", default="exp/zoo")
    parser.add_argument("--sizes", type=int, nargs="+", default=[12, 48], help="training mixtures per N")
    parser.add_argument("--rooms", nargs="+", default=["0.3:2", "0.3:3", "0.15:2"], help="RT60:N test sets")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--tag", default="", help="suffix of the re-trained folders and rows (e.g. _s1200)")
    return parser.parse_args(argv)


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args = parse_args(argv)
    import torch

    from asteroid_mvae.data import MixtureDataset
    from asteroid_mvae.evaluation import evaluate
    from asteroid_mvae.models import load_model

    torch.set_num_threads(args.threads)
    out = Path(args.zoo)
    zargs = zoo.parse_args(["--out", str(out), "--threads", str(args.threads)])
    csvs = [zoo.mixtures(zargs, out, "train", n, max(args.sizes)) for n in (2, 3)]
    for k in args.sizes:
        zoo.retrain_encoder(
            zargs,
            out,
            csvs,
            out / f"retrain_data_k{k}",
            out / f"retrained_k{k}{args.tag}",
            args.steps,
            args.lr,
            max_mixtures=k,
        )
    tables = []
    for room in args.rooms:
        rt60, n_src = float(room.split(":")[0]), int(room.split(":")[1])
        dataset = MixtureDataset(zoo.mixtures(zargs, out, "test", n_src, zargs.test_mixtures, rt60))
        folder = out / "eval" / f"rt{int(round(rt60 * 1000))}_n{n_src}"
        seps = {
            f"fastmvae2_retrained_k{k}{args.tag}": load_model(
                str(out / f"retrained_k{k}{args.tag}" / "model.pth"), n_src=n_src, n_iter=zargs.n_iter
            )
            for k in args.sizes
        }
        evaluate(
            seps,
            dataset,
            folder,
            metrics_list=["si_sdr", "sdr", "sir", "sar"],
            n_examples=0,
            stft_config=zoo.stft_config(zargs),
            progress=sys.stderr.isatty(),
            separator_options={"n_iter": zargs.n_iter},
        )
        tables.append(zoo.zoo_table(folder / "all_metrics.csv", rt60, n_src))
    print("\n\n".join(tables))


if __name__ == "__main__":
    main()
