"""Encoder re-training with mixture signals (Yamaji et al.) against the amount of re-training data.

On a zoo built by ``zoo_vcc2018.py`` (its ChimeraACVAE and test mixtures), re-train the encoder
on the first K training-sentence mixtures per N for each K of ``--sizes`` (the same 300 steps at
lr 1e-4 as the zoo's re-training), evaluate each re-trained FastMVAE2 on the zoo's test
mixtures, and print the paired table against ILRMA and against the plain FastMVAE2 (rows
``fastmvae2_retrained_k<K>`` join the zoo's evaluation folders). Every stage resumes. Options this
study does not take are the zoo's (``zoo_vcc2018.py``): give a speaker-open zoo's ``--train-corpus``,
``--per-speaker`` and ``--open-test-speakers``, so that its split makes the mixtures.

    python egs/vcc2018/local/zoo_retrain_scale.py --zoo exp/zoo --sizes 12 48
    python egs/vcc2018/local/zoo_retrain_scale.py --zoo exp/zoo --sizes 48 --steps 1200 --tag _s1200

The authors' protocol (Yamaji et al.: one separated signal per step, Adam 1e-5, the first
iterations over-represented) on mixtures of varied rooms, with another ChimeraACVAE package::

    python egs/vcc2018/local/zoo_retrain_scale.py --zoo exp/zoo_authors --network PKG --sizes 200 \
        --train-rt60 0.2 0.4 --batch-size 1 --steps 20000 --lr 1e-5 --early-iterations 6 --early-weight 5 \
        --val-every 2000 --data-tag _s3100 --tag _s3100_lr1e-5 --rooms 0.3:2 0.3:3 \
        --train-corpus ../shared/data/librispeech_tc100_1utt --per-speaker 2 --open-test-speakers VCC2SF1
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
    parser.add_argument("--network", default=None, help="ChimeraACVAE package (default: <zoo>/chimera/network.pt)")
    parser.add_argument(
        "--train-rt60", type=float, nargs="+", default=[0.3], help="re-training rooms: RT60 or LOW HIGH"
    )
    parser.add_argument("--data-tag", default="", help="suffix of the re-training data folders (one per network)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--val-every", type=int, default=50, help="steps between validations")
    parser.add_argument("--early-iterations", type=int, default=0, help="iterations below this weigh --early-weight")
    parser.add_argument("--early-weight", type=float, default=1.0)
    parser.add_argument("--data-jobs", type=int, default=1, help="processes making the re-training data")
    args, zoo_options = parser.parse_known_args(argv)
    if len(args.train_rt60) not in (1, 2):
        parser.error("--train-rt60 takes one RT60 or a LOW HIGH range")
    # every other option is the zoo's (its corpora and speakers make the split)
    args.zoo_args = zoo.parse_args(["--out", args.zoo, "--threads", str(args.threads), *zoo_options])
    return args


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args = parse_args(argv)
    import torch

    from asteroid_mvae.data import MixtureDataset
    from asteroid_mvae.evaluation import evaluate
    from asteroid_mvae.models import load_model

    torch.set_num_threads(args.threads)
    out = Path(args.zoo)
    zargs = args.zoo_args
    rt60 = args.train_rt60[0] if len(args.train_rt60) == 1 else tuple(args.train_rt60)
    csvs = [zoo.mixtures(zargs, out, "train", n, max(args.sizes), rt60) for n in (2, 3)]
    rooms = "" if rt60 == 0.3 else f"_rt{zoo.room_tag(rt60)}"
    for k in args.sizes:
        zoo.retrain_encoder(
            zargs,
            out,
            csvs,
            out / f"retrain_data_k{k}{rooms}{args.data_tag}",
            out / f"retrained_k{k}{args.tag}",
            args.steps,
            args.lr,
            max_mixtures=k,
            network=args.network,
            batch_size=args.batch_size,
            val_every_n_steps=args.val_every,
            early_iterations=args.early_iterations,
            early_weight=args.early_weight,
            jobs=args.data_jobs,
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
