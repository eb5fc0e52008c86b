"""Train a source-model network with Lightning and write its network package.

Layout of ``exp_dir``::

    exp_dir/config.yml           the full configuration
    exp_dir/checkpoints/         Lightning checkpoints (last.ckpt is resumed after a kill)
    exp_dir/logs/                CSV (and TensorBoard when installed) logs
    exp_dir/<package_name>       the network package (see asteroid_mvae.networks.package)
"""

import importlib.util
import itertools
import logging
import time
from pathlib import Path

import torch
import yaml

from .. import catalogue, compat
from ..networks import CVAE, load_network_package, save_network_package
from ..networks.package import nll_gap_warning
from ..utils.io import write_text
from ..utils.progress import on_terminal, training_progress_callback
from .batchnorm import batchnorm_layers, recalibrate_batchnorm
from .data import build_dataset, check_dataset, compute_input_scale, make_loaders, split_per_speaker
from .presets import make_config
from .systems import seed_epoch

#: The catalogue's networks (``asteroid-mvae train --model`` names) -> (network class, system class).
MODELS = {entry.name: (entry.load(), entry.load("system")) for entry in catalogue.entries("network")}
LAST_CHECKPOINT = "last.ckpt"
log = logging.getLogger(__name__)


def load_teacher(path, label_map):
    """Load the CVAE/ACVAE teacher package of a ChimeraACVAE and check it matches the data's speakers."""
    if path is None:
        raise ValueError("training a ChimeraACVAE needs a teacher: set config['teacher'] to a CVAE network package")
    teacher, package = load_network_package(path)
    if not isinstance(teacher, CVAE):
        raise ValueError(f"teacher {path} holds a {package['network']}; expected a CVAE or ACVAE package")
    if dict(package["label_map"]) != {str(k): int(v) for k, v in label_map.items()}:
        raise ValueError(f"teacher {path} was trained on other speakers (label_map differs from the data's)")
    return teacher, package


def _csv_logger(exp_dir: Path):
    from pytorch_lightning.loggers import CSVLogger

    return CSVLogger(str(exp_dir), name="logs")


def make_loggers(exp_dir: Path):
    from pytorch_lightning.loggers import TensorBoardLogger

    loggers = [_csv_logger(exp_dir)]
    if importlib.util.find_spec("tensorboard") or importlib.util.find_spec("tensorboardX"):
        loggers.append(TensorBoardLogger(str(exp_dir), name="logs_tb"))
    return loggers


#: Lightning/torch messages that say nothing about this training (each of them measured in
#: the demo log): tips, device summaries, a torch-internal deprecation, the frozen teacher's
#: eval mode.
QUIET_WARNINGS = (
    r".*isinstance\(treespec, LeafSpec\).*",
    r".*module\(s\) in eval mode at the start of training.*",
    r".*does not have many workers.*",
    r".*Checkpoint directory .* exists and is not empty.*",
)


def quiet_lightning() -> None:
    """Keep Lightning's INFO chatter (tips, GPU/TPU summaries) and the warnings above out of logs."""
    import warnings

    for name in (
        "pytorch_lightning.utilities.rank_zero",
        "lightning.pytorch.utilities.rank_zero",
        "pytorch_lightning.accelerators.cuda",
        "lightning_fabric.utilities.seed",
        "pytorch_lightning.callbacks.model_summary",
        "pytorch_lightning.utilities.model_summary",
    ):
        logging.getLogger(name).setLevel(logging.WARNING)
    for pattern in QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)


def build_trainer(
    exp_dir,
    options: dict,
    *,
    has_val: bool,
    last_schedule: dict,
    progress=None,
    early_stop=None,
    callbacks=(),
    tensorboard: bool = False,
):
    """The Lightning trainer of every training of the package, writing into ``exp_dir``.

    - ``checkpoints/last.ckpt`` on ``last_schedule`` (``ModelCheckpoint`` timing arguments, see
      :func:`last_checkpoint`); with validation also ``checkpoints/best.ckpt`` (lowest ``val_loss``),
      placed before it so that ``last.ckpt`` holds that validation's best score; resume with
      :func:`fit`;
    - ``early_stop=(monitor, patience)``: stop after ``patience`` validations without a lower
      ``monitor`` (with validation and ``patience`` > 0 only);
    - no validation: ``limit_val_batches=0``;
    - ``progress``: a label; without a progress bar (not on a terminal, or
      ``enable_progress_bar=False``) a log line per 10 % instead. ``None``: no progress at all;
    - loggers: CSV in ``logs/``, and TensorBoard in ``logs_tb/`` when ``tensorboard`` and installed;
    - ``callbacks``: more callbacks (after the checkpoints); ``options``: ``pl.Trainer``
      arguments, ``None`` values left out but for ``check_val_every_n_epoch`` (``None``: validate
      every ``val_check_interval`` steps across epochs).
    """
    import pytorch_lightning as pl

    quiet_lightning()
    exp_dir = Path(exp_dir)
    # None: Lightning's default, except check_val_every_n_epoch=None (validate every val_check_interval steps)
    options = {k: v for k, v in options.items() if v is not None or k == "check_val_every_n_epoch"}
    folder = exp_dir / "checkpoints"
    all_callbacks = ([best_checkpoint(folder)] if has_val else []) + [last_checkpoint(folder, **last_schedule)]
    all_callbacks += list(callbacks)
    if has_val and early_stop and int(early_stop[1] or 0) > 0:
        all_callbacks.append(pl.callbacks.EarlyStopping(monitor=early_stop[0], mode="min", patience=int(early_stop[1])))
    if not has_val:
        options["limit_val_batches"] = 0
    if progress is None:
        options["enable_progress_bar"] = False
    elif not (options.get("enable_progress_bar", True) and on_terminal()):  # log files: a line per 10 %
        options["enable_progress_bar"] = False
        all_callbacks.append(training_progress_callback(progress))
    loggers = make_loggers(exp_dir) if tensorboard else [_csv_logger(exp_dir)]
    return pl.Trainer(default_root_dir=str(exp_dir), logger=loggers, callbacks=all_callbacks, **options)


def fit(trainer, system, exp_dir) -> float:
    """``trainer.fit(system)``, resumed from ``exp_dir/checkpoints/last.ckpt`` when there is one
    (loaded with ``weights_only``: never run code from a file); returns the seconds it took."""
    last = Path(exp_dir) / "checkpoints" / LAST_CHECKPOINT
    if last.exists():
        log.info("resuming %s from %s", exp_dir, last)
    start = time.time()
    trainer.fit(system, ckpt_path=str(last) if last.exists() else None, weights_only=True)
    return time.time() - start


def make_trainer(config: dict, exp_dir: Path, has_val: bool):
    """The trainer of a source-model network: ``config["trainer"]`` options, of which
    ``ckpt_every_n_steps`` (see :func:`checkpoint_schedule`) and ``early_stop_patience`` (on the
    validation NLL) are ours; TensorBoard logs when installed."""
    options = dict(config["trainer"])
    ckpt_every = options.pop("ckpt_every_n_steps", None)
    patience = options.pop("early_stop_patience", None)
    return build_trainer(
        exp_dir,
        {**options, "deterministic": False},
        has_val=has_val,
        last_schedule=checkpoint_schedule(ckpt_every, options.get("limit_train_batches")),
        progress=f"train {config['model']}",
        early_stop=("val_nll", patience),
        tensorboard=True,
    )


def _epoch_metrics(trainer) -> dict:
    return {
        k: round(float(v), 6)
        for k, v in trainer.callback_metrics.items()
        if k.endswith("_epoch") or k.startswith("val_")
    }


def train(config: dict, dataset=None) -> Path:
    """Train ``config["model"]`` (see :func:`~asteroid_mvae.training.presets.make_config`).

    Args:
        config: full configuration dict (``make_config(...)`` output, e.g. loaded from YAML).
        dataset: optional speaker spectrogram dataset; built from ``config["data"]`` if omitted.

    Returns the path of the written network package. Rerunning with the same ``exp_dir``
    resumes from ``checkpoints/last.ckpt``; a finished run only rewrites the package.
    """
    import pytorch_lightning as pl

    config = make_config(config.get("model", "cvae"), "paper", {k: v for k, v in config.items()})
    model_name = config["model"]
    if model_name != "chimera" and config["augment"]["interference"]["prob"] > 0:
        raise ValueError(f"augment.interference is a ChimeraACVAE option; {model_name} does not take it")
    network_class, system_class = MODELS[model_name]
    exp_dir = Path(config["exp_dir"])
    exp_dir.mkdir(parents=True, exist_ok=True)
    write_text(exp_dir / "config.yml", yaml.safe_dump(compat.plain(config), sort_keys=False))
    quiet_lightning()
    pl.seed_everything(config["seed"], workers=True)

    dataset = build_dataset(config["data"], config["seed"]) if dataset is None else dataset
    check_dataset(dataset)
    label_map = dict(dataset.label_map)
    teacher = teacher_package = None
    if model_name == "chimera":
        teacher, teacher_package = load_teacher(config["teacher"], label_map)
    train_idx, val_idx = split_per_speaker(dataset.labels, config["data"]["val_fraction"], config["seed"])
    if teacher_package is not None:  # the student works in its teacher's input domain
        input_scale = float(teacher_package["input_scale"])
    else:
        input_scale = compute_input_scale(dataset, train_idx, config["data"]["scale_items"], config["seed"])
    train_loader, val_loader = make_loaders(
        dataset, train_idx, val_idx, config["optim"]["batch_size"], config["data"]["num_workers"], config["seed"]
    )

    net = network_class(n_labels=len(label_map), **config["network"])
    optimizer = system_class.make_optimizer(net, config["optim"])
    system_args = dict(input_scale=input_scale, loss_weights=config["loss"]["weights"], config=compat.plain(config))
    if model_name == "chimera":
        system_args.update(
            teacher=teacher, gumbel_tau=config["loss"]["gumbel_tau"], interference=config["augment"]["interference"]
        )
    system = system_class(net, optimizer, train_loader, val_loader, **system_args)

    trainer = make_trainer(config, exp_dir, has_val=val_loader is not None)
    start = time.time()
    fit(trainer, system, exp_dir)

    info = {
        "model": model_name,
        "data": {
            "items": len(dataset),
            "train_items": len(train_idx),
            "val_items": len(val_idx),
            "speakers": len(label_map),
            "root": config["data"]["root"],
        },
        "epochs": int(trainer.current_epoch),
        "steps": int(trainer.global_step),
        "final_metrics": _epoch_metrics(trainer),
        "config": compat.plain(config),
        "teacher": None if config["teacher"] is None else str(config["teacher"]),
    }
    package_path = exp_dir / config["package_name"]
    if trainer.is_global_zero:
        info["final_metrics"].update(finish_batchnorm(system, train_loader, val_loader, config["batchnorm"]))
        if (
            val_loader is not None and system.has_nll and "val_nll" not in info["final_metrics"]
        ):  # e.g. a finished run rewritten
            seed_epoch(int(config["seed"]), system.current_epoch, stream=2)
            info["final_metrics"]["val_nll"] = round(mean_val_nll(system, val_loader), 6)
        warning = nll_gap_warning(info["final_metrics"], batchnorm=bool(batchnorm_layers(net)))
        if warning:
            log.warning("%s: %s", exp_dir, warning)
        save_network_package(package_path, net.cpu(), input_scale, label_map, info)
        record_fit_time(exp_dir, time.time() - start)
    return package_path


def record_fit_time(exp_dir: Path, seconds: float) -> None:
    """Wall time of this run in ``exp_dir/fit_time.json`` (kept out of the package, whose bytes
    must depend on the inputs only)."""
    import json

    write_text(Path(exp_dir) / "fit_time.json", json.dumps({"fit_seconds_this_run": round(seconds, 1)}) + "\n")
    log.info("%s: trained in %.1f s", exp_dir, seconds)


def system_forward(system):
    """``forward(batch)`` running a system's training passes on a loader batch (for recalibration)."""

    def forward(batch):
        magnitude, labels = (t.to(system.device) for t in batch)
        return system.loss_terms(magnitude / system.input_scale, labels)

    return forward


def mean_val_nll(system, val_loader) -> float:
    """Eval-mode NLL per bin over the validation loader (what separation sees)."""
    system.model.eval()
    forward, total, count = system_forward(system), 0.0, 0
    with torch.no_grad():
        for batch in val_loader:
            total += float(forward(batch)["nll"]) * batch[1].shape[0]
            count += batch[1].shape[0]
    return total / max(count, 1)


def last_checkpoint(folder, **schedule):
    """A ``ModelCheckpoint`` keeping one file, ``<folder>/last.ckpt``, overwritten on ``schedule``
    (``ModelCheckpoint`` timing arguments; default: every epoch's end).

    Not ``save_last=True, save_top_k=0``: Lightning 2.6 writes ``last`` only in steps where it
    also wrote a top-k file, so that pair never writes at epoch or validation ends.
    """
    from pytorch_lightning.callbacks import ModelCheckpoint

    return ModelCheckpoint(
        dirpath=str(folder),
        filename=Path(LAST_CHECKPOINT).stem,
        monitor=None,
        save_top_k=1,
        enable_version_counter=False,
        **schedule,
    )


def best_checkpoint(folder, monitor: str = "val_loss"):
    """``<folder>/best.ckpt``: the lowest ``monitor`` so far (a stale file of a restarted run is replaced)."""
    from pytorch_lightning.callbacks import ModelCheckpoint

    return ModelCheckpoint(
        dirpath=str(folder), filename="best", monitor=monitor, mode="min", save_top_k=1, enable_version_counter=False
    )


def checkpoint_schedule(every_n_steps, limit_train_batches) -> dict:
    """``ModelCheckpoint`` timing for ``last.ckpt``: at the end of every epoch, or of every
    ``k`` epochs when epochs have a fixed ``limit_train_batches`` and checkpoints are asked for
    every ``every_n_steps`` (an epoch-end checkpoint resumes exactly; a mid-epoch one cannot,
    the loader restarts its epoch). Only epochs of unknown length checkpoint mid-epoch."""
    if not every_n_steps:
        return {"save_on_train_epoch_end": True}
    if isinstance(limit_train_batches, int) and limit_train_batches > 0:
        return {"every_n_epochs": max(1, int(every_n_steps) // limit_train_batches), "save_on_train_epoch_end": True}
    return {"every_n_train_steps": int(every_n_steps)}


def finish_batchnorm(system, train_loader, val_loader, options: dict) -> dict:
    """Recalibrate the network's BatchNorm statistics on training batches (when it has any and
    ``options["recalibrate_batches"] > 0``); returns the metrics to add to the package."""
    n_batches = int(options.get("recalibrate_batches") or 0)
    if not batchnorm_layers(system.model) or n_batches <= 0:
        return {}
    seed_epoch(int((system.config or {}).get("seed", 0)), system.current_epoch, stream=1)  # same after a resume
    seen = recalibrate_batchnorm(system.model, itertools.islice(train_loader, n_batches), system_forward(system))
    metrics = {"batchnorm_recalibration_batches": seen}
    if val_loader is not None:
        metrics["val_nll_recalibrated"] = round(mean_val_nll(system, val_loader), 6)
    log.info("BatchNorm statistics recalibrated on %d training batches %s", seen, metrics)
    return metrics


def train_cvae(exp_dir, dataset=None, preset: str = "paper", **overrides) -> Path:
    """Train a CVAE into ``exp_dir`` (``overrides`` are merged into the preset configuration)."""
    return train(make_config("cvae", preset, {"exp_dir": str(exp_dir), **overrides}), dataset)


def train_acvae(exp_dir, dataset=None, preset: str = "paper", **overrides) -> Path:
    """Train an ACVAE into ``exp_dir``."""
    return train(make_config("acvae", preset, {"exp_dir": str(exp_dir), **overrides}), dataset)


def train_chimera(teacher_package, exp_dir, dataset=None, preset: str = "paper", **overrides) -> Path:
    """Train a ChimeraACVAE into ``exp_dir``, distilled from the CVAE package ``teacher_package``."""
    teacher = None if teacher_package is None else str(teacher_package)
    return train(make_config("chimera", preset, {"exp_dir": str(exp_dir), "teacher": teacher, **overrides}), dataset)
