"""Encoder re-training, the whole chain on real speech (VCC2018), CPU-sized by default.

Stages (each resumable; a rerun skips finished work):

1. ``speakers``: speaker-closed split of VCC2018 (each speaker's utterances: train / held-out
   test), reverberant single-speaker training signals of the train utterances.
2. ``networks``: CVAE teacher, then ChimeraACVAE (FastMVAE2's network), Lightning, CPU preset
   with fewer steps (``--cvae-steps``, ``--chimera-steps``).
3. ``retrain-data``: N = 2 and 3 mixtures of TRAIN utterances, FastMVAE2 run for
   ``--data-iter`` iterations, every iterate's power stored (stage 1 of the paper's method).
4. ``retrain``: encoder re-training (decoder frozen), IS loss, Adam.
5. ``compare``: N = 2 and 3 mixtures of HELD-OUT utterances; ILRMA, FastMVAE2, re-trained
   FastMVAE2: J-increase fraction, SI-SDR improvement against iteration and at the end.

Run: ``python egs/vcc2018/local/retrain_vcc2018.py --out exp/retrain_vcc2018 [--until networks]``.
The 2048-point STFT of the papers is ``--n-fft 2048`` (slow on CPU). The default 512 is a
smoke-test size only: at RT60 0.3 s, 32-ms frames are far shorter than the reverberation and
no frequency-domain BSS separates (ILRMA ~0 dB); use ``--n-fft 1024 --seconds 8`` or more for
numbers worth reading.
"""

import argparse
import json
import time
from pathlib import Path

STAGES = ("speakers", "networks", "retrain-data", "retrain", "compare")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="../shared/data/vcc2018")
    parser.add_argument("--out", default="exp/retrain_vcc2018")
    parser.add_argument("--until", choices=STAGES, default="compare")
    parser.add_argument("--from", dest="start", choices=STAGES, default="speakers", help="first stage to run")
    parser.add_argument("--n-fft", type=int, default=512)
    parser.add_argument("--seconds", type=float, default=4.0, help="length of simulated signals")
    parser.add_argument("--per-speaker", type=int, default=6, help="training signals per speaker")
    parser.add_argument("--cvae-steps", type=int, default=300)
    parser.add_argument("--chimera-steps", type=int, default=200)
    parser.add_argument("--train-mixtures", type=int, default=24, help="re-training mixtures per N")
    parser.add_argument("--test-mixtures", type=int, default=8, help="test mixtures per N")
    parser.add_argument("--data-iter", type=int, default=30)
    parser.add_argument("--test-iter", type=int, default=50)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--max-steps", type=int, default=600)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--early-iterations", type=int, default=0)
    parser.add_argument("--early-weight", type=float, default=1.0)
    parser.add_argument("--oracle", action="store_true")
    parser.add_argument("--tag", default="", help="suffix of the retrained/ and compare/ folders (variants)")
    parser.add_argument("--methods", nargs="+", default=["ILRMA", "FastMVAE2", "FastMVAE2-retrained"])
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0, help="data split, simulation and training seed")
    parser.add_argument("--retrain-seed", type=int, default=None, help="seed of the re-training only (default: --seed)")
    return parser.parse_args(argv)


def stft_config(args):
    from asteroid_mvae.separation import StftConfig

    return StftConfig(args.n_fft, args.n_fft // 2)


def corpora(args):
    from asteroid_mvae.data import FolderCorpus, split_by_utterance

    corpus = FolderCorpus(args.corpus)
    return split_by_utterance(corpus, test_fraction=0.2, seed=args.seed)


def room(args):
    from asteroid_mvae.data import RoomConfig

    return RoomConfig(duration=args.seconds)


def stage_speakers(args, out):
    from asteroid_mvae.data import simulate_speakers

    train, _ = corpora(args)
    return simulate_speakers(
        train, out / "speakers", args.per_speaker, seed=args.seed, jobs=args.jobs, config=room(args)
    )


def stage_networks(args, out):
    from asteroid_mvae.data import SpeakerSpectrogramDataset
    from asteroid_mvae.training import train_chimera, train_cvae

    dataset_args = {"segment_frames": 64, "segments_per_utterance": 4, "cache": True}
    dataset = SpeakerSpectrogramDataset(out / "speakers", stft=stft_config(args), seed=args.seed, **dataset_args)
    # dataset_args recorded in the config so that config.yml says what was really used
    common = {
        "network": {"n_freq": args.n_fft // 2},
        "seed": args.seed,
        "data": {"root": str(out / "speakers"), "val_fraction": 0.1, "dataset_args": dataset_args},
        "trainer": {"enable_progress_bar": False, "limit_train_batches": 50, "check_val_every_n_epoch": 2},
    }
    teacher = out / "cvae" / "network.pt"
    if not teacher.exists():
        train_cvae(out / "cvae", dataset, preset="cpu", **_with_steps(common, args.cvae_steps))
    chimera = out / "chimera" / "network.pt"
    if not chimera.exists():
        train_chimera(teacher, out / "chimera", dataset, preset="cpu", **_with_steps(common, args.chimera_steps))
    return chimera


def _with_steps(common, steps):
    import copy

    conf = copy.deepcopy(common)
    conf["trainer"]["max_steps"] = steps
    return conf


def mixtures(args, out, part, n_src, n_mixtures):
    from asteroid_mvae.data import simulate_mixtures

    train, test = corpora(args)
    corpus = train if part == "train" else test
    return simulate_mixtures(
        corpus,
        out / f"mix_{part}_{n_src}src",
        n_src,
        n_mixtures,
        seed=args.seed + (0 if part == "train" else 1000),
        jobs=args.jobs,
        config=room(args),
    )


def stage_retrain_data(args, out):
    from asteroid_mvae.retraining import generate_retraining_data

    csvs = [mixtures(args, out, "train", n, args.train_mixtures) for n in (2, 3)]
    return generate_retraining_data(
        out / "chimera" / "network.pt",
        csvs,
        out / "retrain_data",
        n_iter=args.data_iter,
        store_clean=True,
        stft_config=stft_config(args),
        jobs=args.jobs,
        seed=args.seed,
    )


def stage_retrain(args, out):
    from asteroid_mvae.retraining import RetrainConfig, retrain

    config = RetrainConfig(
        lr=args.lr,
        max_steps=args.max_steps,
        dropout=args.dropout,
        seed=args.seed if args.retrain_seed is None else args.retrain_seed,
        batch_size=16,
        val_fraction=0.1,
        patience=5,
        val_every_n_steps=50,
        oracle=args.oracle,
        early_iterations=args.early_iterations,
        early_weight=args.early_weight,
    )
    return retrain(out / "chimera" / "network.pt", out / "retrain_data", out / f"retrained{args.tag}", config)


def stage_compare(args, out):
    from asteroid_mvae.retraining import compare

    csvs = [mixtures(args, out, "test", n, args.test_mixtures) for n in (2, 3)]
    if args.tag:
        reuse_baselines(out / "compare", out / f"compare{args.tag}")
    return compare(
        out / "chimera" / "network.pt",
        out / f"retrained{args.tag}" / "model.pth",
        csvs,
        out / f"compare{args.tag}",
        n_iter=args.test_iter,
        stft_config=stft_config(args),
        methods=args.methods,
    )


def reuse_baselines(source: Path, target: Path, retrained: str = "FastMVAE2-retrained") -> None:
    """Seed a variant's compare folder with the untagged run's ILRMA and FastMVAE2 rows.

    Those two methods do not depend on the re-training variant, and ``evaluate`` skips the
    (method, mixture) pairs already present, so only the re-trained model is evaluated again.
    """
    import pandas as pd

    from asteroid_mvae.utils.io import atomic_path, write_text

    for sub in sorted(source.glob("N*_*")):
        dest = target / sub.name
        if dest.exists() or not (sub / "all_metrics.csv").exists():
            continue
        rows = pd.read_csv(sub / "all_metrics.csv")
        with atomic_path(dest / "all_metrics.csv") as tmp:
            rows[rows["method"] != retrained].to_csv(tmp, index=False)
        lines = (sub / "curves.jsonl").read_text().splitlines(keepends=True)
        write_text(dest / "curves.jsonl", "".join(l for l in lines if json.loads(l)["method"] != retrained))


def main(argv=None):
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runners = {
        "speakers": stage_speakers,
        "networks": stage_networks,
        "retrain-data": stage_retrain_data,
        "retrain": stage_retrain,
        "compare": stage_compare,
    }
    timings = {}
    for stage in STAGES[STAGES.index(args.start) :]:
        start = time.time()
        result = runners[stage](args, out)
        timings[stage] = round(time.time() - start, 1)
        print(f"[{stage}] {result} ({timings[stage]} s)", flush=True)
        if stage == args.until:
            break
    print(json.dumps(timings))


if __name__ == "__main__":
    main()
