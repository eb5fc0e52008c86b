"""Frame priors as the IP engine's source model on reverberant rooms (beyond the paper):
``FramePriorIVA`` with the GASS benchmark's priors (``gass_vcc2018.py``: dry VCC2018
training sentences 30001-30009 of the 12 speakers) on the real-speech zoo's test mixtures
(sentences 30021-30025 of the same speakers), blind (the mixture's speakers chosen among the 12
by least J) and supervised (``_known``: the speakers of the mixture's metadata, as the
evaluation gives them), beside supervised ILRMA (fixed NMF bases of the mixture's speakers from
the same training sentences; 30 ILRMA + 30 iterations) and the zoo's MVAE (CVAE trained on the same 12 speakers, STFT
2048: paired against ILRMA at its own STFT), each paired against ILRMA at the same STFT::

    python egs/vcc2018/local/frame_prior_rooms.py --mixtures exp/zoo/mix_test_2src --priors exp/gass
"""

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mixtures", default="exp/zoo/mix_test_2src", help="a simulate output folder")
    parser.add_argument("--priors", default="exp/gass", help="folder of <prior>/network.pt packages")
    parser.add_argument("--names", nargs="+", default=["wgan", "frame_vae"])
    parser.add_argument("--n-mixtures", type=int, default=24)
    parser.add_argument("--hop", type=int, default=512)
    parser.add_argument("--n-steps", type=int, default=10, help="Adam steps on the latents per iteration")
    parser.add_argument("--out", default="egs/vcc2018/results/frame_prior_rooms")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--corpus", default="../shared/data/vcc2018", help="the priors' training sentences (NMF bases)")
    parser.add_argument("--train-sentences", type=int, nargs="+", default=list(range(30001, 30010)))
    parser.add_argument("--n-basis", type=int, default=20, help="supervised NMF bases per speaker")
    parser.add_argument(
        "--zoo-eval",
        default="exp/zoo/eval/rt300_n2/all_metrics.csv",
        help="the zoo's evaluation on the same mixtures (its MVAE and ILRMA rows)",
    )
    return parser.parse_args(argv)


def speaker_signals(corpus: Path, speaker: str, sentences) -> list:
    from asteroid_mvae.data.datasets import read_wav

    return [read_wav(corpus / speaker / f"{k}.flac", 16000)[0] for k in sentences]


def build_methods(args, n_src):
    """name -> (model, speakers given?); the supervised NMF is fitted per mixture (see ``separate``)."""
    from asteroid_mvae.models import ILRMA, FramePriorIVA

    methods = {}
    for name in args.names:
        package = Path(args.priors) / name / "network.pt"
        methods[f"frame_prior_iva_{name}"] = (
            FramePriorIVA.from_network_package(
                package, speakers=None, n_src=n_src, hop_length=args.hop, n_steps=args.n_steps
            ),
            False,
        )
        methods[f"frame_prior_iva_{name}_known"] = (
            FramePriorIVA.from_network_package(package, n_src=n_src, hop_length=args.hop, n_steps=args.n_steps),
            True,
        )
    n_fft = 2 * next(iter(methods.values()))[0].network.n_freq
    methods = {
        "ilrma": (ILRMA(n_src=n_src, n_iter=60, n_fft=n_fft, hop_length=args.hop), False),
        "supervised_ilrma_known": (None, True),
        **methods,
    }
    return methods, n_fft


def separate(args, name, model, mixture, speakers, n_fft, n_src):
    if name == "supervised_ilrma_known":  # bases of the mixture's speakers, from the priors' training sentences
        from asteroid_mvae.models import SupervisedILRMA

        model = SupervisedILRMA(
            n_src=n_src, n_basis=args.n_basis, n_iter=30, init_ilrma=30, n_fft=n_fft, hop_length=args.hop
        )  # the MVAE protocol's start: fixed bases alone did worse
        model.fit_bases([speaker_signals(Path(args.corpus), s, args.train_sentences) for s in speakers])
        return model(mixture[None])[0]
    if speakers is not None:
        return model(mixture[None], speakers=speakers)[0]
    return model(mixture[None])[0]


def zoo_rows(args, ids) -> pd.DataFrame:
    """The zoo's MVAE and ILRMA rows (STFT 2048 / 1024, the CVAE trained on the same speakers) on
    the same mixtures."""
    path = Path(args.zoo_eval)
    if not path.exists():
        return pd.DataFrame()
    zoo = pd.read_csv(path)
    zoo = zoo[zoo["method"].isin(["mvae", "ilrma"]) & zoo["mixture_id"].isin(ids)]
    names = {"mvae": "mvae (zoo, STFT 2048)", "ilrma": "ilrma (STFT 2048)"}
    index = {m: i for i, m in enumerate(ids)}
    return pd.DataFrame(
        {
            "method": zoo["method"].map(names),
            "mixture": zoo["mixture_id"].map(index),
            "seconds": zoo["processing_s"],
            "si_sdr_imp": zoo["si_sdr_imp"],
        }
    )


def table(df, n_fft, args) -> str:
    lines = [
        f"STFT {n_fft} / hop {args.hop} (the zoo's rows: 2048 / 1024); {df['mixture'].nunique()} mixtures of "
        f"{args.mixtures}; `_known`: the mixture's speakers given",
        "",
        "| method | mixtures | SI-SDRi (dB) | minus ILRMA at its STFT, paired (dB) | better | s/mixture |",
        "|---|---|---|---|---|---|",
    ]
    bases = {
        False: df[df["method"] == "ilrma"].set_index("mixture")["si_sdr_imp"],
        True: df[df["method"] == "ilrma (STFT 2048)"].set_index("mixture")["si_sdr_imp"],
    }
    for name, group in sorted(df.groupby("method"), key=lambda kv: -kv[1]["si_sdr_imp"].mean()):
        base = bases["2048" in name]
        diff = (group.set_index("mixture")["si_sdr_imp"] - base).dropna()
        reference = name.startswith("ilrma")
        paired = "" if reference else f"{diff.mean():+.2f} ± {diff.std(ddof=1) / np.sqrt(len(diff)):.2f}"
        better = "" if reference else f"{int((diff > 0).sum())}/{len(diff)}"
        lines.append(
            f"| {name} | {len(group)} | {group['si_sdr_imp'].mean():.2f} ± {group['si_sdr_imp'].std(ddof=1):.2f} | "
            f"{paired} | {better} | {group['seconds'].mean():.1f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    from asteroid_mvae.data import MixtureDataset
    from asteroid_mvae.evaluation.metrics import compute_metrics

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    dataset = MixtureDataset(Path(args.mixtures) / "metadata.csv")
    n_src = dataset[0][1].shape[0]
    methods, n_fft = build_methods(args, n_src)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    csv = out / "metrics.csv"
    rows = pd.read_csv(csv).to_dict("records") if csv.exists() else []
    done = {(r["method"], r["mixture"]) for r in rows}
    n = min(args.n_mixtures, len(dataset))
    ids = [str(dataset.metadata(i)["mixture_ID"]) for i in range(n)]
    for index in range(n):
        mixture, references = dataset[index]
        meta = dataset.metadata(index)
        mixture_speakers = [str(meta[f"speaker_{k}"]) for k in range(1, n_src + 1)]
        for name, (model, known) in methods.items():
            if (name, index) in done:
                continue
            start = time.time()
            with torch.no_grad():
                estimates = separate(args, name, model, mixture, mixture_speakers if known else None, n_fft, n_src)
            metrics = compute_metrics(
                mixture[0].numpy(), references.numpy(), estimates.numpy(), metrics_list=["si_sdr"]
            )
            rows.append({"method": name, "mixture": index, "seconds": time.time() - start, **metrics})
            print(f"mixture {index} {name}: {metrics['si_sdr_imp']:.2f} dB", flush=True)
        tmp = csv.with_suffix(".tmp")
        pd.DataFrame(rows).to_csv(tmp, index=False)
        tmp.replace(csv)
    df = pd.concat([pd.DataFrame(rows), zoo_rows(args, ids)], ignore_index=True)
    df = df[df["mixture"] < n]
    text = table(df, n_fft, args)
    (out / "table.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
