"""``asteroid-mvae train``: train a source-model network (the catalogue's networks: CVAE, ACVAE,
ChimeraACVAE, and the frame priors GAN, WGAN, frame VAE, frame DAE) on ``simulate-speakers``
output, or a network trained on mixtures (PIT baselines, deep clustering, MixIT, VAE-BSS) on
``simulate`` output. ``--model`` takes a catalogue name or alias (:mod:`asteroid_mvae.catalogue`);
a separator's name trains the network it needs (``fastmvae2`` -> ``chimera``).

Configuration precedence: preset (:data:`asteroid_mvae.training.presets.PRESETS`) < ``--conf`` YAML <
command-line flags.
For the mixture-trained networks the preset only picks VAE-BSS's size (``--size`` overrides);
their configuration is :data:`asteroid_mvae.baselines.DEFAULT_CONFIG`.
"""

import argparse
from pathlib import Path

from .. import catalogue
from ..training.presets import PRESETS
from ..utils.config import drop_none, merge, parse_devices
from . import CliError


def training_name(text: str) -> str:
    """``--model``: the catalogue's training key for ``text`` (an argparse usage error otherwise)."""
    try:
        return catalogue.training_key(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_parser(subparsers):
    networks, mixture = catalogue.names("network"), catalogue.names(*catalogue.MIXTURE_KINDS)
    separators = [f"{e.name} -> {e.network}" for e in catalogue.entries("deep", "frame-prior")]
    parser = subparsers.add_parser(
        "train",
        help=f"train a source-model network ({', '.join(networks)}) or a mixture-trained one ({', '.join(mixture)})",
    )
    parser.add_argument(
        "--model",
        type=training_name,
        required=True,
        metavar="NAME",
        help=f"source-model network: {', '.join(networks)}; trained on mixtures: {', '.join(mixture)}; "
        f"or the separator that uses the network ({', '.join(separators)})",
    )
    parser.add_argument(
        "--data",
        help="simulate-speakers output folder (or its metadata.csv); "
        "mixture-trained models: simulate output folder (or its metadata.csv)",
    )
    parser.add_argument("--valid-data", help="mixture-trained models: validation mixtures (simulate output)")
    parser.add_argument(
        "--size", help="mixture-trained models: network size (tiny, small, standard; vaebss: tiny, cpu, paper)"
    )
    parser.add_argument("--out", required=True, help="experiment folder (checkpoints, logs, network.pt)")
    parser.add_argument("--teacher", help="chimera: trained CVAE/ACVAE network package (network.pt)")
    parser.add_argument(
        "--preset",
        choices=tuple(PRESETS),
        default="paper",
        help="paper: 1000 epochs (GPU); cpu: < 1 hour on 2 cores; cpu_long: hours in the background; "
        "speaker_open: the best speaker-open setting (asteroid_mvae.training.presets; default: paper)",
    )
    parser.add_argument("--conf", help="YAML with configuration overrides (see --print-config)")
    parser.add_argument("--epochs", type=int, help="max epochs")
    parser.add_argument("--max-steps", type=int, help="max optimizer steps (-1: no limit)")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--num-workers", type=int)
    parser.add_argument("--accelerator", help="Lightning accelerator (auto, cpu, gpu)")
    parser.add_argument("--devices", help="Lightning devices (auto, 1, 4, ...)")
    parser.add_argument("--strategy", help="Lightning strategy (auto, ddp)")
    parser.add_argument("--print-config", action="store_true", help="print the full configuration and exit")
    parser.set_defaults(func=run)


def _flag_overrides(args) -> dict:
    trainer = {
        "max_epochs": args.epochs,
        "max_steps": args.max_steps,
        "accelerator": args.accelerator,
        "devices": parse_devices(args.devices),
        "strategy": args.strategy,
    }
    overrides = {
        "exp_dir": args.out,
        "teacher": args.teacher,
        "seed": args.seed,
        "data": {"root": args.data, "num_workers": args.num_workers},
        "optim": {"batch_size": args.batch_size, "lr": args.lr},
        "trainer": trainer,
    }
    return drop_none(overrides)


def _read_conf(path) -> dict:
    import yaml

    if not Path(path).is_file():
        raise CliError(f"configuration file not found: {path}")
    try:
        conf = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as err:  # the parser's position, one line
        reason = " ".join(str(err).split())
        raise CliError(f"{path} is not valid YAML ({reason[:200]})") from None
    if not isinstance(conf, dict):
        raise CliError(f"{path} must hold a YAML mapping of configuration keys")
    return conf


def _metadata(label, path) -> Path:
    path = Path(path)
    csv = path / "metadata.csv" if path.is_dir() else path
    if not csv.is_file():
        raise CliError(f"{label}: no mixture metadata at {csv} (run asteroid-mvae simulate)")
    return csv


def run_mixture_model(args, conf: dict):
    """Train a network on mixtures with :func:`asteroid_mvae.baselines.train_pit`."""
    import yaml

    from ..baselines import make_config, train_pit
    from ..data import DataError, MixtureDataset

    size = args.size or (args.preset if args.model == "vaebss" and args.preset in ("paper", "cpu") else None)
    flags = drop_none(
        {
            "model": args.model,
            "size": size,
            "seed": args.seed,
            "optim": {"batch_size": args.batch_size, "lr": args.lr, "num_workers": args.num_workers},
            "trainer": {
                "max_epochs": args.epochs,
                "max_steps": args.max_steps,
                "accelerator": args.accelerator,
                "devices": parse_devices(args.devices),
                "strategy": args.strategy,
            },
        }
    )
    config = make_config(merge(conf, flags))
    if args.print_config:
        print(yaml.safe_dump(config, sort_keys=False), end="")
        return 0
    if not args.data:
        raise CliError(f"--data (a simulate output folder) is required for --model {args.model}")
    try:
        train_set = MixtureDataset(_metadata("--data", args.data))
        valid_set = MixtureDataset(_metadata("--valid-data", args.valid_data)) if args.valid_data else None
        path = train_pit(train_set, args.out, config, valid_set=valid_set)
    except (ValueError, FileNotFoundError, DataError) as err:
        raise CliError(str(err)) from None
    print(f"model: {path}")
    return 0


def run(args):
    import yaml

    from ..training import make_config, train

    conf = _read_conf(args.conf) if args.conf else {}
    if args.model in catalogue.names(*catalogue.MIXTURE_KINDS):
        return run_mixture_model(args, conf)
    for flag in ("valid_data", "size"):
        if getattr(args, flag):
            raise CliError(f"--{flag.replace('_', '-')} is for mixture-trained models, not --model {args.model}")
    try:
        config = make_config(args.model, args.preset, merge(conf, _flag_overrides(args)))
    except ValueError as err:
        raise CliError(str(err)) from None
    config["model"] = args.model
    if args.print_config:
        print(yaml.safe_dump(config, sort_keys=False), end="")
        return 0
    if not config["data"]["root"]:
        raise CliError("--data (a simulate-speakers output folder) is required")
    if args.model == "chimera" and not config["teacher"]:
        raise CliError("--model chimera needs --teacher PATH (a trained CVAE network package)")
    for label, path in (("--data", config["data"]["root"]), ("--teacher", config["teacher"])):
        if path and not Path(path).exists():
            raise CliError(f"{label} path not found: {path}")
    try:
        package = train(config)
    except (ValueError, FileNotFoundError) as err:
        raise CliError(str(err)) from None
    print(f"network package: {package}")
    return 0
