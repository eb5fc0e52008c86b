"""``asteroid-mvae recalibrate``: recompute a network package's BatchNorm statistics.

For packages trained before training did it (or with ``batchnorm.recalibrate_batches: 0``):
one pass of training-mode forward passes over the training data with the final weights
(see :mod:`asteroid_mvae.training.batchnorm`), then the package is written again.
"""

from pathlib import Path

from . import CliError


def add_parser(subparsers):
    parser = subparsers.add_parser("recalibrate", help="recompute the BatchNorm statistics of a network package")
    parser.add_argument("--network", required=True, help="network package (network.pt) of a CVAE or ACVAE")
    parser.add_argument("--data", required=True, help="its training data (simulate-speakers output folder)")
    parser.add_argument("--out", help="output package (default: overwrite --network)")
    parser.add_argument("--batches", type=int, default=200, help="training batches to average over (default 200)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(func=run)


def run(args):
    import logging

    import torch

    from .. import catalogue
    from ..networks import load_network_package, save_network_package
    from ..networks.package import nll_gap_warning
    from ..separation import StftConfig
    from ..training.batchnorm import batchnorm_layers
    from ..training.data import make_loaders, split_per_speaker
    from ..training.run import MODELS, finish_batchnorm

    if not 1 <= args.batches <= 1_000_000:
        raise CliError(f"--batches must be in [1, 1000000]; got {args.batches}")
    if not 1 <= args.batch_size <= 65536:
        raise CliError(f"--batch-size must be in [1, 65536]; got {args.batch_size}")
    for label, path in (("--network", args.network), ("--data", args.data)):
        if not Path(path).exists():
            raise CliError(f"{label} path not found: {path}")
    try:
        net, package = load_network_package(args.network)
    except ValueError as err:
        raise CliError(str(err)) from None
    if not batchnorm_layers(net):
        raise CliError(f"{args.network} holds a {package['network']}, which has no BatchNorm layer: nothing to do")
    from ..data.datasets import SpeakerSpectrogramDataset

    config = package.get("training", {}).get("config", {})
    data_config = config.get("data", {})
    dataset_args = dict(data_config.get("dataset_args", {}))
    dataset = SpeakerSpectrogramDataset(
        args.data, stft=StftConfig(2 * net.n_freq, net.n_freq), seed=args.seed, **dataset_args
    )
    if dict(dataset.label_map) != dict(package["label_map"]):
        raise CliError(f"{args.data} has other speakers than the package's label map")
    train_idx, val_idx = split_per_speaker(dataset.labels, data_config.get("val_fraction", 0.05), config.get("seed", 0))
    train_loader, val_loader = make_loaders(dataset, train_idx, val_idx, args.batch_size, 0, args.seed)
    name = catalogue.network_of_class(package["network"]).name  # one with BatchNorm layers
    system = MODELS[name][1](net, None, train_loader, val_loader, input_scale=package["input_scale"])
    info = dict(package.get("training", {}))
    metrics = dict(
        info.get("final_metrics", {}),
        **finish_batchnorm(system, train_loader, val_loader, {"recalibrate_batches": args.batches}),
    )
    info["final_metrics"] = metrics
    out = args.out or args.network
    with torch.no_grad():
        save_network_package(out, net, package["input_scale"], package["label_map"], info)
    warning = nll_gap_warning(metrics)
    if warning:
        logging.getLogger(__name__).warning("%s: %s", out, warning)
    print(
        f"recalibrated {metrics['batchnorm_recalibration_batches']} batches; "
        f"validation NLL {metrics.get('val_nll')} -> "
        f"{metrics.get('val_nll_recalibrated')}; package: {out}"
    )
    return 0
