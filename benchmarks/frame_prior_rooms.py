"""Frame priors as the IP engine's source model on reverberant rooms (issue 14, beyond the paper):
``FramePriorIVA`` with the GASS benchmark's priors (``benchmarks/gass_vcc2018.py``: dry VCC2018
training sentences 30001-30009 of the 12 speakers) on the real-speech zoo's test mixtures
(sentences 30021-30025 of the same speakers; the mixture's speakers are not given: chosen among
the 12 by least J), paired against ILRMA at the same STFT::

    python benchmarks/frame_prior_rooms.py --mixtures exp/zoo/mix_test_2src --priors exp/gass
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
    parser.add_argument("--out", default="benchmarks/results/frame_prior_rooms")
    parser.add_argument("--threads", type=int, default=2)
    return parser.parse_args(argv)


def main(argv=None):
    from asteroid_mvae.data import MixtureDataset
    from asteroid_mvae.evaluation.metrics import compute_metrics
    from asteroid_mvae.models import ILRMA, FramePriorIVA

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    dataset = MixtureDataset(Path(args.mixtures) / "metadata.csv")
    n_src = dataset[0][1].shape[0]
    methods = {}
    for name in args.names:
        package = Path(args.priors) / name / "network.pt"
        methods[f"frame_prior_iva_{name}"] = FramePriorIVA.from_network_package(
            package, speakers=None, n_src=n_src, hop_length=args.hop, n_steps=args.n_steps)
    n_fft = 2 * next(iter(methods.values())).network.n_freq
    methods = {"ilrma": ILRMA(n_src=n_src, n_iter=60, n_fft=n_fft, hop_length=args.hop), **methods}
    rows = []
    for index in range(min(args.n_mixtures, len(dataset))):
        mixture, references = dataset[index]
        for name, model in methods.items():
            start = time.time()
            with torch.no_grad():
                estimates = model(mixture[None])[0]
            metrics = compute_metrics(mixture[0].numpy(), references.numpy(), estimates.numpy(), metrics_list=["si_sdr"])
            rows.append({"method": name, "mixture": index, "seconds": time.time() - start, **metrics})
    df = pd.DataFrame(rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "metrics.csv", index=False)
    base = df[df["method"] == "ilrma"].set_index("mixture")["si_sdr_imp"]
    lines = [f"STFT {n_fft} / hop {args.hop}; {df['mixture'].nunique()} mixtures of {args.mixtures}", "",
             "| method | SI-SDRi (dB) | minus ilrma, paired (dB) | better | s/mixture |", "|---|---|---|---|---|"]
    for name, group in df.groupby("method", sort=False):
        diff = group.set_index("mixture")["si_sdr_imp"] - base
        paired = "" if name == "ilrma" else f"{diff.mean():+.2f} ± {diff.std(ddof=1) / np.sqrt(len(diff)):.2f}"
        better = "" if name == "ilrma" else f"{int((diff > 0).sum())}/{len(diff)}"
        lines.append(f"| {name} | {group['si_sdr_imp'].mean():.2f} ± {group['si_sdr_imp'].std(ddof=1):.2f} | {paired} | "
                     f"{better} | {group['seconds'].mean():.1f} |")
    text = "\n".join(lines) + "\n"
    (out / "table.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
