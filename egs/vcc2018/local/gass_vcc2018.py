"""The GASS experiment (Subakan & Smaragdis, ICASSP 2018) on real speech: single-channel, dry,
male-female VCC2018 pairs at 0 dB; supervised NMF, GASS with GAN / WGAN generators, and the
frame VAE / DAE decoders used the same way (latents optimised), all of one MLP size; IBM and IRM
as ceilings. SDR, SIR, SAR and SI-SDR per method in one table::

    python egs/vcc2018/local/gass_vcc2018.py --corpus ../shared/data/vcc2018 --out exp/gass

Protocol: 9 training sentences per speaker (30001-30009, as the paper's 9 utterances), all 12
speakers in one training per prior (one MLP per speaker inside it, the paper's per-source
networks); test mixtures of other sentences (30010-30025), the male and the female speaker of
each pair given different sentence numbers. Stages resume (packages and per-method CSV rows are
kept); ``--results`` gets the table and the configuration.
"""

import argparse
import itertools
import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

log = logging.getLogger("asteroid_mvae.egs.vcc2018.gass_vcc2018")  # shown by show_package_logs
FEMALE = ("VCC2SF1", "VCC2SF2", "VCC2SF3", "VCC2SF4", "VCC2TF1", "VCC2TF2")
MALE = ("VCC2SM1", "VCC2SM2", "VCC2SM3", "VCC2SM4", "VCC2TM1", "VCC2TM2")
PRIORS = ("wgan", "gan", "frame_vae", "frame_dae")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="../shared/data/vcc2018")
    parser.add_argument("--out", default="exp/gass")
    parser.add_argument("--results", default="egs/vcc2018/results/gass_vcc2018")
    parser.add_argument("--n-fft", type=int, default=1024)
    parser.add_argument("--hop", type=int, default=256)
    parser.add_argument("--train-sentences", type=int, default=9)
    parser.add_argument("--pairs", type=int, default=25, help="test mixtures (male-female pairs, the paper: 25)")
    parser.add_argument("--priors", nargs="+", default=list(PRIORS))
    parser.add_argument("--steps", type=int, default=1500, help="training steps per prior")
    parser.add_argument("--latent", type=int, default=32)
    parser.add_argument("--hidden", type=int, nargs="+", default=[512, 512])
    parser.add_argument("--sep-steps", type=int, default=500, help="Adam steps on the latents per mixture")
    parser.add_argument("--critic-weight", type=float, default=1.0, help="lambda of the GAN/WGAN rows '+critic'")
    parser.add_argument(
        "--lr", type=float, default=1e-3, help="learning rate of every prior (RMSprop for WGAN, Adam for the others)"
    )
    parser.add_argument("--n-basis", type=int, default=20, help="supervised NMF bases per speaker")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def load(corpus: Path, speaker: str, sentence: int) -> np.ndarray:
    from asteroid_mvae.data.datasets import read_wav

    return read_wav(corpus / speaker / f"{sentence}.flac", 16000)[0]


def train_priors(args, out: Path, stft_config):
    """One package per prior (resumable), trained on every speaker's training sentences."""
    from asteroid_mvae.data import WaveformSpeakerDataset
    from asteroid_mvae.training import make_config, train

    corpus, speakers = Path(args.corpus), sorted(FEMALE + MALE)
    sentences = range(30001, 30001 + args.train_sentences)
    waveforms = [load(corpus, s, k) for s in speakers for k in sentences]
    labels = [s for s in speakers for _ in sentences]
    dataset = WaveformSpeakerDataset(
        waveforms, labels, segment_frames=16, stft=stft_config, segments_per_utterance=16, seed=args.seed
    )
    packages = {}
    for prior in args.priors:
        exp = out / prior
        if (exp / "network.pt").exists() and (exp / "fit_time.json").exists():
            packages[prior] = exp / "network.pt"
            continue
        conf = make_config(
            prior,
            "cpu",
            {
                "exp_dir": str(exp),
                "seed": args.seed,
                "network": {"n_freq": args.n_fft // 2, "latent_dim": args.latent, "hidden": args.hidden},
                "data": {"scale_items": 500, "val_fraction": 0.05},
                "optim": {"batch_size": 16, "lr": args.lr},
                "trainer": {
                    "max_steps": args.steps,
                    "limit_train_batches": 50,
                    "limit_val_batches": 4,
                    "check_val_every_n_epoch": 5,
                    "enable_progress_bar": False,
                    "ckpt_every_n_steps": 250,
                },
            },
        )
        start = time.time()
        packages[prior] = train(conf, dataset)
        log.info("trained %s in %.0f s", prior, time.time() - start)
    return packages, waveforms, labels, speakers


def test_pairs(args):
    """``(male, female, male sentence, female sentence)`` per test mixture, cycling over the 36 pairs."""
    pairs = list(itertools.product(MALE, FEMALE))
    rng = np.random.default_rng(args.seed)
    rng.shuffle(pairs)
    test_sentences = list(range(30001 + args.train_sentences, 30026))
    out = []
    for i in range(args.pairs):
        male, female = pairs[i % len(pairs)]
        a, b = rng.choice(test_sentences, 2, replace=False)
        out.append((male, female, int(a), int(b)))
    return out


def mixture(corpus: Path, male, female, a, b):
    x, y = load(corpus, male, a), load(corpus, female, b)
    n = min(len(x), len(y))
    x, y = x[:n], y[:n] * np.sqrt((x[:n] ** 2).sum() / (y[:n] ** 2).sum())  # 0 dB
    references = np.stack([x, y]).astype(np.float32)
    return references.sum(0), references


def separators(args, packages, waveforms, labels, speakers, stft_config):
    """name -> callable(mixture [1, 1, time], labels of (male, female), references) -> estimates [2, time]."""
    from asteroid_mvae.models import GASS, SupervisedNMFSeparator

    label_of = {s: i for i, s in enumerate(speakers)}
    per_speaker = [[w for w, l in zip(waveforms, labels) if l == s] for s in speakers]
    nmf = SupervisedNMFSeparator(
        n_labels=len(speakers), n_basis=args.n_basis, n_fft=args.n_fft, hop_length=args.hop, seed=args.seed
    ).fit_bases(per_speaker)
    out = {"nmf": lambda mix, pair, refs: nmf(mix, speakers=pair)[0]}
    for prior, path in packages.items():
        settings = [("", {})]
        if prior == "wgan":  # the paper best prior, with its critic term
            settings.append(("+critic", {"critic_weight": args.critic_weight}))
        for suffix, extra in settings:
            model = GASS.from_network_package(
                path, hop_length=args.hop, n_steps=args.sep_steps, seed=args.seed, **extra
            )
            out[prior + suffix] = lambda mix, pair, refs, model=model: model(mix, speakers=pair)[0]
    for kind in ("ibm", "irm"):
        out[kind] = lambda mix, pair, refs, kind=kind: ideal_mask(mix[0, 0], torch.from_numpy(refs), kind, stft_config)
    return out, label_of


def ideal_mask(mix, refs, kind, stft_config):
    """IBM / IRM estimates ``[src, time]`` from the true sources (magnitude shares)."""
    from asteroid_mvae.models.gass import masked_estimates
    from asteroid_mvae.separation.stft import istft, stft

    spec, magnitude = stft(mix[None], stft_config), stft(refs, stft_config).abs()[None]  # [1, F, T], [1, K, F, T]
    if kind == "ibm":
        magnitude = torch.nn.functional.one_hot(magnitude.argmax(1), refs.shape[0]).movedim(-1, 1).to(magnitude)
    return istft(masked_estimates(spec, magnitude), mix.shape[-1], stft_config)[0]


def evaluate(args, out: Path, methods, label_of):
    from asteroid_mvae.evaluation.metrics import compute_metrics

    csv = out / "metrics.csv"
    done = pd.read_csv(csv) if csv.exists() else pd.DataFrame(columns=["method", "mixture"])
    rows = done.to_dict("records")
    finished = {(r["method"], r["mixture"]) for r in rows}
    corpus = Path(args.corpus)
    for index, (male, female, a, b) in enumerate(test_pairs(args)):
        mix, refs = mixture(corpus, male, female, a, b)
        for name, separate in methods.items():
            if (name, index) in finished:
                continue
            start = time.time()
            with torch.no_grad():
                estimates = separate(torch.from_numpy(mix)[None, None], [label_of[male], label_of[female]], refs)
            seconds = time.time() - start
            metrics = compute_metrics(mix, refs, estimates.numpy(), metrics_list=["si_sdr", "sdr", "sir", "sar"])
            rows.append({"method": name, "mixture": index, "pair": f"{male}-{female}", "seconds": seconds, **metrics})
            log.info(
                "mixture %d/%d %s: SI-SDRi %.2f dB (%.1f s)",
                index + 1,
                args.pairs,
                name,
                metrics["si_sdr_imp"],
                seconds,
            )
        tmp = csv.with_suffix(".tmp")
        pd.DataFrame(rows).to_csv(tmp, index=False)
        tmp.replace(csv)
    return pd.DataFrame(rows)


def table(df: pd.DataFrame) -> str:
    lines = [
        "| method | mixtures | SI-SDRi (dB) | SDR (dB) | SIR (dB) | SAR (dB) | "
        "minus nmf, SI-SDRi paired (dB) | s/mixture |",
        "|---|---|---|---|---|---|---|---|",
    ]
    nmf = df[df["method"] == "nmf"].set_index("mixture")["si_sdr_imp"]
    for method, group in sorted(df.groupby("method"), key=lambda kv: -kv[1]["si_sdr_imp"].mean()):
        diff = group.set_index("mixture")["si_sdr_imp"] - nmf.reindex(group["mixture"]).values
        paired = "" if method == "nmf" else f"{diff.mean():+.2f} ± {diff.std(ddof=1) / np.sqrt(len(diff)):.2f}"
        stats = [f"{group[c].mean():.2f} ± {group[c].std(ddof=1):.2f}" for c in ("si_sdr_imp", "sdr", "sir", "sar")]
        lines.append(
            f"| {method} | {len(group)} | " + " | ".join(stats) + f" | {paired} | {group['seconds'].mean():.2f} |"
        )
    return (
        "\n".join(lines)
        + "\n\nMean ± standard deviation over mixtures; paired: mean ± standard error of the per-mixture difference.\n"
    )


def main(argv=None):
    from asteroid_mvae.cli import show_package_logs
    from asteroid_mvae.separation.stft import StftConfig

    args = parse_args(argv)
    show_package_logs()
    torch.set_num_threads(args.threads)
    out, results = Path(args.out), Path(args.results)
    out.mkdir(parents=True, exist_ok=True)
    stft_config = StftConfig(args.n_fft, args.hop)
    packages, waveforms, labels, speakers = train_priors(args, out, stft_config)
    methods, label_of = separators(args, packages, waveforms, labels, speakers, stft_config)
    df = evaluate(args, out, methods, label_of)
    results.mkdir(parents=True, exist_ok=True)
    (results / "table.md").write_text(table(df), encoding="utf-8")
    (results / "config.json").write_text(json.dumps(vars(args), indent=1) + "\n", encoding="utf-8")
    print(table(df))


if __name__ == "__main__":
    main()
