"""Unsupervised and mask-based single-channel separation on real speech: VAE-BSS
(plain decoder output and VAEM masks), MixIT, deep clustering, ConvTasNet (PIT), supervised NMF,
IBM and IRM on two-speaker VCC2018 mixtures, dry and at the reference microphone of a simulated
room; SI-SDR improvement, SDR, SIR, SAR; and the over-separation check (K = 3 on 2-source
mixtures: the weakest output's share of the estimates' energy)::

    python egs/vcc2018/local/unsupervised_vcc2018.py --corpus ../shared/data/vcc2018 --out exp/unsupervised

Protocol: all 12 speakers; training mixtures of two different speakers at 0 dB from sentences
30001-30020 (half dry, half reverberant: RT60 0.3 s, ``evaluation.toy`` room, images at
microphone 0), test mixtures of sentences 30021-30025 (the same speakers: speaker-closed), 24 per
condition. VAE-BSS and MixIT never see a reference; ConvTasNet and deep clustering learn from
the references; NMF is supervised by the speakers' identities (bases from their training
sentences); IBM / IRM use the true sources. Every stage resumes (datasets, trainings, CSV rows).
"""

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

log = logging.getLogger("asteroid_mvae.egs.vcc2018.unsupervised_vcc2018")  # shown by show_package_logs
SPEAKERS = (
    "VCC2SF1",
    "VCC2SF2",
    "VCC2SF3",
    "VCC2SF4",
    "VCC2TF1",
    "VCC2TF2",
    "VCC2SM1",
    "VCC2SM2",
    "VCC2SM3",
    "VCC2SM4",
    "VCC2TM1",
    "VCC2TM2",
)
TRAIN_SENTENCES, TEST_SENTENCES = range(30001, 30021), range(30021, 30026)
CONDITIONS = ("dry", "rt300")
#: trained networks: name -> (model, n_src, network overrides)
NETWORKS = {
    "vaebss": ("vaebss", 2, {}),
    "vaebss_k3": ("vaebss", 3, {}),
    "mixit": (
        "mixit",
        2,
        {"n_blocks": 4, "n_repeats": 2, "bn_chan": 32, "hid_chan": 64, "skip_chan": 32, "n_filters": 64},
    ),
    "deep_clustering": ("deep_clustering", 2, {}),
    "convtasnet": (
        "convtasnet",
        2,
        {"n_blocks": 4, "n_repeats": 2, "bn_chan": 32, "hid_chan": 64, "skip_chan": 32, "n_filters": 64},
    ),
}
#: training steps on one CPU core (10-15 minutes each on a shared core; minutes-trained networks, not the papers')
STEPS = {"vaebss": 1500, "vaebss_k3": 1500, "mixit": 600, "deep_clustering": 800, "convtasnet": 600}
SIZES = {"vaebss": "cpu", "vaebss_k3": "cpu", "mixit": "tiny", "deep_clustering": "small", "convtasnet": "tiny"}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="../shared/data/vcc2018")
    parser.add_argument("--out", default="exp/unsupervised")
    parser.add_argument("--results", default="egs/vcc2018/results/unsupervised_vcc2018")
    parser.add_argument("--train-mixtures", type=int, default=480)
    parser.add_argument("--test-mixtures", type=int, default=24, help="per condition")
    parser.add_argument("--seconds", type=float, default=4.0, help="longest mixture")
    parser.add_argument("--networks", nargs="+", default=list(NETWORKS), choices=list(NETWORKS))
    parser.add_argument(
        "--steps",
        type=int,
        nargs="+",
        default=None,
        help="training steps, one value for all networks or one per --networks entry (default: STEPS)",
    )
    parser.add_argument("--n-basis", type=int, default=20, help="supervised NMF bases per speaker")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def load(corpus: Path, speaker: str, sentence: int) -> np.ndarray:
    from asteroid_mvae.data.datasets import read_wav

    return read_wav(corpus / speaker / f"{sentence}.flac", 16000)[0]


def make_mixture(corpus, pair, sentences, condition, seconds, seed):
    """``(mixture [1, time], references [2, time])`` float32 at 0 dB (references: dry sources, or
    their images at microphone 0 of the room)."""
    from asteroid_mvae.evaluation.toy import simulate_mixture

    x, y = (load(corpus, s, k) for s, k in zip(pair, sentences))
    n = min(len(x), len(y), int(seconds * 16000))
    dry = np.stack([x[:n], y[:n]]).astype(np.float64)
    if condition == "dry":
        references = dry
    else:
        references = simulate_mixture(2, n / 16000, rt60=0.3, seed=seed, signals=dry)[1].astype(np.float64)
    references[1] *= np.sqrt((references[0] ** 2).sum() / (references[1] ** 2).sum())  # 0 dB at the microphone
    references = (references / np.abs(references.sum(0)).max() * 0.5).astype(np.float32)
    return references.sum(0, keepdims=True), references


def draw(rng, n, sentences, speakers=SPEAKERS):
    """``n`` (pair of distinct speakers, their two sentence numbers, condition) draws."""
    out = []
    for i in range(n):
        pair = tuple(rng.choice(speakers, 2, replace=False))
        out.append((pair, tuple(int(k) for k in rng.choice(list(sentences), 2)), CONDITIONS[i % 2]))
    return out


class InMemory(torch.utils.data.Dataset):
    """``(mixture [1, time], references [2, time])`` items of equal length (zero-padded)."""

    def __init__(self, items, length):
        pad = lambda x: np.pad(x, ((0, 0), (0, length - x.shape[-1])))
        self.items = [(torch.from_numpy(pad(m)), torch.from_numpy(pad(r))) for m, r in items]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, idx):
        return self.items[idx]


def training_set(args, out: Path):
    """The training mixtures (cached in ``out/train.pt``; seeded)."""
    from asteroid_mvae.utils.io import save_torch

    path = out / "train.pt"
    if path.exists():
        items = torch.load(path, weights_only=True)
    else:
        rng = np.random.default_rng(args.seed)
        items = []
        for i, (pair, sentences, condition) in enumerate(draw(rng, args.train_mixtures, TRAIN_SENTENCES)):
            m, r = make_mixture(Path(args.corpus), pair, sentences, condition, args.seconds, seed=10_000 + i)
            items.append((torch.from_numpy(m), torch.from_numpy(r)))
        save_torch(items, path)
        log.info("wrote %d training mixtures to %s", len(items), path)
    return InMemory([(m.numpy(), r.numpy()) for m, r in items], int(args.seconds * 16000))


def train_networks(args, out: Path, train_set):
    """``{name: best_model.pth}`` (each training resumes from its ``last.ckpt``)."""
    from asteroid_mvae.baselines import train_pit

    steps = [STEPS[n] for n in args.networks] if args.steps is None else args.steps
    steps = steps * len(args.networks) if len(steps) == 1 else steps
    if len(steps) != len(args.networks):
        raise SystemExit("--steps: one value, or one per --networks entry")
    paths = {}
    for name, n_steps in zip(args.networks, steps):
        model, n_src, network = NETWORKS[name]
        exp = out / name
        config = {
            "model": model,
            "n_src": n_src,
            "size": SIZES[name],
            "network": network,
            "segment_seconds": 2.0,
            "seed": args.seed,
            "optim": {"batch_size": 8, "lr": 1e-3},
            "trainer": {
                "max_epochs": 10_000,
                "max_steps": n_steps,
                "accelerator": "cpu",
                "enable_model_summary": False,
                "log_every_n_steps": 50,
            },
        }
        done = exp / "fit_time.json"
        if not (done.exists() and (exp / "best_model.pth").exists()):
            start = time.time()
            train_pit(train_set, exp, config)
            log.info("trained %s (%d steps) in %.0f s", name, n_steps, time.time() - start)
        paths[name] = exp / "best_model.pth"
    return paths


def separators(args, paths):
    """name -> callable(mixture [1, 1, time], speaker labels, references [2, time]) -> estimates [K, time]."""
    from gass_vcc2018 import ideal_mask  # noqa: E402  (this folder is on sys.path when run as a script)

    from asteroid_mvae.models import SupervisedNMFSeparator, load_model
    from asteroid_mvae.separation.stft import StftConfig

    corpus = Path(args.corpus)
    per_speaker = [[load(corpus, s, k) for k in TRAIN_SENTENCES] for s in SPEAKERS]
    nmf = SupervisedNMFSeparator(
        n_labels=len(SPEAKERS), n_basis=args.n_basis, n_fft=1024, hop_length=256, seed=args.seed
    ).fit_bases(per_speaker)
    methods = {"nmf (speakers known)": lambda mix, labels, refs: nmf(mix, speakers=labels)[0]}
    for name, path in paths.items():
        model = load_model(str(path)).eval()
        methods[name] = lambda mix, labels, refs, model=model: model(mix)[0]
        if name == "vaebss":
            plain = load_model(str(path), vaem=False).eval()
            methods["vaebss (no VAEM)"] = lambda mix, labels, refs, model=plain: model(mix)[0]
        if name == "deep_clustering":
            three = load_model(str(path), n_src=3).eval()
            methods["deep_clustering_k3"] = lambda mix, labels, refs, model=three: model(mix)[0]
    stft_config = StftConfig(1024, 256)
    for kind in ("ibm", "irm"):
        methods[kind] = lambda mix, labels, refs, kind=kind: ideal_mask(
            mix[0, 0], torch.from_numpy(refs), kind, stft_config
        )
    return methods


def weakest_share(estimates: np.ndarray) -> float:
    """Energy of the weakest output over the estimates' total energy (1/K: an even split)."""
    energy = (estimates.astype(np.float64) ** 2).sum(-1)
    return float(energy.min() / max(energy.sum(), 1e-30))


def evaluate(args, out: Path, methods):
    from asteroid_mvae.evaluation.metrics import compute_metrics

    csv = out / "metrics.csv"
    rows = pd.read_csv(csv).to_dict("records") if csv.exists() else []
    finished = {(r["method"], r["condition"], r["mixture"]) for r in rows}
    label_of = {s: i for i, s in enumerate(SPEAKERS)}
    rng = np.random.default_rng(args.seed + 1)
    tests = draw(rng, 2 * args.test_mixtures, TEST_SENTENCES)
    for index, (pair, sentences, condition) in enumerate(tests):
        mix, refs = make_mixture(Path(args.corpus), pair, sentences, condition, args.seconds, seed=20_000 + index)
        for name, separate in methods.items():
            if (name, condition, index) in finished:
                continue
            start = time.time()
            with torch.no_grad():
                estimates = separate(torch.from_numpy(mix)[None], [label_of[s] for s in pair], refs).numpy()
            seconds = time.time() - start
            share = weakest_share(estimates)
            if estimates.shape[0] > refs.shape[0]:  # K = 3: score the two outputs that match the sources
                estimates = best_subset(estimates, refs)
            metrics = compute_metrics(mix[0], refs, estimates, metrics_list=["si_sdr", "sdr", "sir", "sar"])
            rows.append(
                {
                    "method": name,
                    "condition": condition,
                    "mixture": index,
                    "pair": "-".join(pair),
                    "seconds": seconds,
                    "weakest_share": share,
                    **metrics,
                }
            )
            log.info(
                "%s mixture %d %s: SI-SDRi %.2f dB (%.1f s)", condition, index, name, metrics["si_sdr_imp"], seconds
            )
        tmp = csv.with_suffix(".tmp")
        pd.DataFrame(rows).to_csv(tmp, index=False)
        tmp.replace(csv)
    return pd.DataFrame(rows)


def best_subset(estimates: np.ndarray, refs: np.ndarray) -> np.ndarray:
    """The ``len(refs)`` outputs of highest summed SI-SDR against the references, in their order."""
    import itertools

    from asteroid_mvae.evaluation.metrics import si_sdr

    scores = np.array([[si_sdr(e, r) for r in refs] for e in estimates])  # [K, src]
    best = max(
        itertools.permutations(range(len(estimates)), len(refs)),
        key=lambda p: sum(scores[k, j] for j, k in enumerate(p)),
    )
    return estimates[list(best)]


def table(df: pd.DataFrame) -> str:
    lines = []
    for condition in CONDITIONS:
        part = df[df["condition"] == condition]
        base = part[part["method"] == "vaebss"].set_index("mixture")["si_sdr_imp"]
        lines += [
            f"{condition}:",
            "",
            "| method | mixtures | SI-SDRi (dB) | SDR (dB) | SIR (dB) | SAR (dB) | "
            "minus vaebss, SI-SDRi paired (dB) | weakest output's energy share | s/mixture |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for method, group in sorted(part.groupby("method"), key=lambda kv: -kv[1]["si_sdr_imp"].mean()):
            diff = group.set_index("mixture")["si_sdr_imp"] - base.reindex(group["mixture"]).values
            paired = (
                ""
                if method == "vaebss" or diff.isna().all()
                else f"{diff.mean():+.2f} ± {diff.std(ddof=1) / np.sqrt(diff.notna().sum()):.2f}"
            )
            stats = [f"{group[c].mean():.2f} ± {group[c].std(ddof=1):.2f}" for c in ("si_sdr_imp", "sdr", "sir", "sar")]
            lines.append(
                f"| {method} | {len(group)} | "
                + " | ".join(stats)
                + f" | {paired} | {group['weakest_share'].mean():.3f} | {group['seconds'].mean():.2f} |"
            )
        lines.append("")
    lines.append(
        "Mean ± standard deviation over mixtures; paired: mean ± standard error of the per-mixture "
        "difference. Weakest share: energy of the weakest output over all outputs' energy (0.5: an "
        "even split of two; for K = 3 near 0 means no over-separation); K = 3 rows are scored on "
        "their two outputs that best match the sources."
    )
    return "\n".join(lines) + "\n"


def main(argv=None):
    from asteroid_mvae.cli import show_package_logs

    args = parse_args(argv)
    show_package_logs()
    torch.set_num_threads(args.threads)
    out, results = Path(args.out), Path(args.results)
    out.mkdir(parents=True, exist_ok=True)
    train_set = training_set(args, out)
    paths = train_networks(args, out, train_set)
    df = evaluate(args, out, separators(args, paths))
    results.mkdir(parents=True, exist_ok=True)
    (results / "table.md").write_text(table(df), encoding="utf-8")
    (results / "config.json").write_text(json.dumps(vars(args), indent=1) + "\n", encoding="utf-8")
    print(table(df))


if __name__ == "__main__":
    main()
