"""Separation protocols of the deep separators, compared on the same mixtures (paired with ILRMA).

MVAE: ours (scale at its optimum, no prior, no initial steps) against the authors' pieces:
initial latent steps before the first demixing update, the N(0, I) latent prior, the scale
kept from the previous update, per-source BatchNorm statistics, an ILRMA start. FastMVAE:
recalibrated running BatchNorm statistics against per-source statistics. FastMVAE and
FastMVAE2: also from an ILRMA start (half the iterations ILRMA, then the deep model). Prints one table
per N (and writes ``<out>/protocols.md``)::

    python egs/vcc2018/local/deep_protocols.py --test-csv exp/demo/data/n2/test/metadata.csv \
        --cvae exp/demo/cvae/network.pt --acvae exp/demo/acvae/network.pt --chimera exp/demo/chimera/network.pt \
        --out exp/protocols_demo --n-iter 60 --mvae-steps 30
"""

import argparse
import logging
import sys
from pathlib import Path

MVAE_VARIANTS = {
    "mvae": {},
    "mvae_init": {"init_steps": "steps"},
    "mvae_prior": {"prior_weight": 1.0},
    "mvae_previous_scale": {"scale": "previous"},
    "mvae_per_source_bn": {"bn_mode": "per_source"},
    "mvae_ilrma_start": {"init_ilrma": "half"},
    "mvae_authors": {"init_steps": "steps", "prior_weight": 1.0, "scale": "previous", "bn_mode": "per_source"},
    "mvae_ilrma_start_init": {"init_ilrma": "half", "init_steps": "steps"},
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test-csv", nargs="+", required=True, help="mixture metadata CSVs (one per N)")
    parser.add_argument("--cvae", help="CVAE network package (MVAE variants)")
    parser.add_argument("--acvae", help="ACVAE network package (FastMVAE variants)")
    parser.add_argument("--chimera", help="ChimeraACVAE network package (FastMVAE2)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--n-iter", type=int, default=60)
    parser.add_argument("--mvae-steps", type=int, default=30, help="Adam steps per MVAE iteration")
    parser.add_argument("--mvae-variants", nargs="*", default=list(MVAE_VARIANTS), choices=list(MVAE_VARIANTS))
    parser.add_argument("--max-mixtures", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    return parser.parse_args(argv)


def mvae_options(variant: str, args) -> dict:
    """A variant's MVAE options; ``"steps"`` means ``--mvae-steps``, ``"half"`` half the iterations."""
    options = {"n_steps": args.mvae_steps}
    for key, value in MVAE_VARIANTS[variant].items():
        options[key] = {"steps": args.mvae_steps, "half": args.n_iter // 2}.get(value, value)
    if options.get("init_ilrma"):  # the authors' MVAE paper: ILRMA for half the iterations, then MVAE
        options["n_iter"] = args.n_iter - options["init_ilrma"]
    return options


def ilrma_start(args, n_src: int) -> dict:
    """Separator options: ILRMA for half the iterations, the deep source model for the rest."""
    return dict(n_src=n_src, init_ilrma=args.n_iter // 2, n_iter=args.n_iter - args.n_iter // 2)


def build(args, n_src: int) -> dict:
    from asteroid_mvae.models import MVAE, FastMVAE, FastMVAE2

    common = dict(n_src=n_src, n_iter=args.n_iter)
    seps = {"ilrma": "ilrma", "oracle_ip": "oracle_ip"}
    if args.chimera:
        seps["fastmvae2"] = FastMVAE2.from_network_package(args.chimera, **common)
        seps["fastmvae2_ilrma_start"] = FastMVAE2.from_network_package(args.chimera, **ilrma_start(args, n_src))
    if args.acvae:
        seps["fastmvae"] = FastMVAE.from_network_package(args.acvae, **common)
        seps["fastmvae_per_source_bn"] = FastMVAE.from_network_package(args.acvae, bn_mode="per_source", **common)
        seps["fastmvae_ilrma_start"] = FastMVAE.from_network_package(args.acvae, **ilrma_start(args, n_src))
    if args.cvae:
        for variant in args.mvae_variants:
            seps[variant] = MVAE.from_network_package(args.cvae, **{**common, **mvae_options(variant, args)})
    return seps


def main(argv=None):
    logging.basicConfig(level=logging.WARNING)
    args = parse_args(argv)
    import torch

    from asteroid_mvae.data import MixtureDataset
    from asteroid_mvae.data.datasets import MixtureSubset
    from asteroid_mvae.evaluation import evaluate
    from asteroid_mvae.evaluation.report import paired_table
    from asteroid_mvae.separation import StftConfig

    torch.set_num_threads(args.threads)
    out, tables = Path(args.out), []
    for csv in args.test_csv:
        dataset = MixtureDataset(csv)
        n_src = int(dataset[0][1].shape[0])
        if args.max_mixtures:
            dataset = MixtureSubset(dataset, list(range(min(args.max_mixtures, len(dataset)))))
        seps = build(args, n_src)
        net = next((s for s in seps.values() if not isinstance(s, str)), None)
        stft = net.stft_config if net is not None else StftConfig()
        folder = out / f"n{n_src}"
        evaluate(
            seps,
            dataset,
            folder,
            metrics_list=["si_sdr"],
            n_examples=0,
            stft_config=stft,
            separator_options={"n_iter": args.n_iter},
            progress=sys.stderr.isatty(),
        )
        tables.append(f"N = {n_src} ({csv}):\n\n" + paired_table(folder / "all_metrics.csv"))
    text = "\n\n".join(tables) + "\n"
    (out / "protocols.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
