"""Train one source model of a recipe: ``asteroid-mvae recipe train --model cvae --conf C --data D --out E``.

The configuration's ``train`` section gives the preset and the overrides of
:func:`asteroid_mvae.training.make_config`, shared (``common``) and per model::

    train:
      preset: cpu            # paper (GPU, 1000 epochs) or cpu
      common: {trainer: {max_steps: 300}}
      cvae: {}
      acvae: {}
      chimera: {optim: {lr: 3e-4}}

Precedence: preset < ``common`` < ``<model>`` < command line (``--data``, ``--out``,
``--teacher``, ``--seed``, ``--accelerator``, ``--devices``). A finished run (network package present
and the same configuration in ``E/config.yml``) is skipped; an interrupted or changed run
resumes from ``E/checkpoints/last.ckpt``.
"""

from pathlib import Path

import yaml

from .. import catalogue
from ..utils.config import merge, parse_devices
from .conf import ConfError, load_conf, section

MODELS = catalogue.names("network")  # source-model networks (cvae, acvae, chimera, the frame priors)


def build_config(conf: dict, model: str, data, out, teacher=None, accelerator=None, devices=None, seed=None) -> dict:
    """The full training configuration of ``model`` (see the module docstring)."""
    from ..training import make_config

    train_conf = section(conf, "train", default={}) or {}
    unknown = set(train_conf) - {"preset", "common", *MODELS}
    if unknown:
        raise ConfError(f"unknown key(s) {sorted(unknown)} in train; expected preset, common, {', '.join(MODELS)}")
    overrides = merge(train_conf.get("common") or {}, train_conf.get(model) or {})
    trainer = {k: v for k, v in (("accelerator", accelerator), ("devices", devices)) if v is not None}
    overrides = merge(overrides, {"exp_dir": str(out), "data": {"root": str(data)}, "trainer": trainer})
    if teacher is not None:
        overrides["teacher"] = str(teacher)
    if seed is not None:
        overrides["seed"] = int(seed)
    try:
        config = make_config(model, train_conf.get("preset", "paper"), overrides)
    except ValueError as err:
        raise ConfError(str(err)) from None
    config["model"] = model
    return config


def is_finished(config: dict) -> bool:
    """True when ``exp_dir`` holds the network package of a run with this exact configuration."""
    exp_dir = Path(config["exp_dir"])
    package, saved = exp_dir / config["package_name"], exp_dir / "config.yml"
    if not (package.is_file() and saved.is_file()):
        return False
    return yaml.safe_load(saved.read_text(encoding="utf-8")) == yaml.safe_load(yaml.safe_dump(config))


def add_arguments(parser):
    parser.add_argument("--model", choices=MODELS, required=True)
    parser.add_argument("--conf", required=True, help="recipe configuration (local/conf.yml)")
    parser.add_argument("--tiny", action="store_true", help="merge the configuration's 'tiny' section")
    parser.add_argument("--data", required=True, help="simulate-speakers folder (recipe simulate: DATA/speakers)")
    parser.add_argument("--out", required=True, help="experiment folder of this model")
    parser.add_argument("--teacher", help="chimera: the CVAE network package (network.pt)")
    parser.add_argument("--seed", type=int, help="overrides the configuration's seed")
    parser.add_argument("--accelerator", help="Lightning accelerator (cpu, gpu, auto)")
    parser.add_argument("--devices", help="Lightning devices (auto, 1, ...)")
    return parser


def run(args) -> int:
    config = build_config(
        load_conf(args.conf, args.tiny),
        args.model,
        args.data,
        args.out,
        args.teacher,
        args.accelerator,
        parse_devices(args.devices),
        args.seed,
    )
    for label, path in (("--data", args.data), ("--teacher", args.teacher)):
        if path and not Path(path).exists():
            raise ConfError(f"{label} path not found: {path}")
    if args.model == "chimera" and not config["teacher"]:
        raise ConfError("--model chimera needs --teacher PATH (the CVAE network package)")
    if is_finished(config):
        print(f"{args.model}: finished run in {args.out} (same configuration); skipping")
        return 0
    from ..training import train

    package = train(config)  # its ValueError / FileNotFoundError: one line from the command line
    print(f"network package: {package}")
    return 0
