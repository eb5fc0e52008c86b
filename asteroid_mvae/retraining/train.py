"""Stage 2 driver: re-train the encoder with Lightning and write the re-trained FastMVAE2.

Layout of ``out_dir``::

    out_dir/config.json        the RetrainConfig and the data folder
    out_dir/checkpoints/       last.ckpt (resumed after a kill), best.ckpt (lowest val_loss)
    out_dir/logs/              CSV logs (loss, val_loss)
    out_dir/network.pt         re-trained ChimeraACVAE package; training["retrained"] = True
    out_dir/model.pth          FastMVAE2 (``serialize()``), ``infos["training"]`` = the same summary
    out_dir/summary.json       the re-training summary (data, iterations, steps, val losses)
"""

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

import torch

from ..compat import plain
from ..training.run import build_trainer, fit, quiet_lightning, record_fit_time
from ..training.sampling import EpochShuffleSampler, ResumableLoader
from ..training.systems import exact_resume_callback
from ..utils.io import save_torch, write_text
from ..utils.safe_load import load_tensors
from .data import RetrainingDataset, read_index, split_items
from .system import EncoderRetrainingSystem, add_encoder_dropout, mean_validation_loss


@dataclass
class RetrainConfig:
    """Every setting of stage 2 (defaults: the paper's Adam 1e-5, no dropout, uniform weights)."""

    lr: float = 1e-5
    batch_size: int = 16
    max_steps: int = 2000
    max_epochs: int = 1000
    segment_frames: Optional[int] = 128  #: random segment per sample (None: whole spectrograms)
    val_fraction: float = 0.1  #: of the mixtures (all iterates of a mixture stay together)
    val_every_n_steps: int = 100
    patience: int = 5  #: validations without improvement before early stopping (0: never)
    dropout: float = 0.0  #: after the encoder's normalisation layers (authors' code: 0.3)
    early_iterations: int = 0  #: iterations < this get weight early_weight
    early_weight: float = 1.0
    iterations: Optional[List[int]] = None  #: stored iterations to use (None: all)
    oracle: bool = False  #: targets = true source power with the best permutation
    seed: int = 0
    num_workers: int = 0
    accelerator: str = "auto"
    devices: object = "auto"
    extra_trainer: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return plain(dataclasses.asdict(self))


def _loaders(data_dir, config: RetrainConfig):
    from torch.utils.data import DataLoader

    index = read_index(data_dir)
    train_ids, val_ids = split_items([e["id"] for e in index["items"]], config.val_fraction, config.seed)
    if not train_ids:
        raise ValueError(f"{data_dir} holds no finished mixtures")
    common = dict(
        iterations=config.iterations,
        oracle=config.oracle,
        segment_frames=config.segment_frames,
        seed=config.seed,
        early_iterations=config.early_iterations,
        early_weight=config.early_weight,
    )
    train_set = RetrainingDataset(data_dir, train_ids, **common)
    train_loader = ResumableLoader(
        train_set,
        batch_size=min(config.batch_size, len(train_set)),
        sampler=EpochShuffleSampler(len(train_set), config.seed),
        drop_last=True,
        num_workers=config.num_workers,
    )
    val_loader = None
    if val_ids:
        val_set = RetrainingDataset(data_dir, val_ids, **common)
        val_loader = DataLoader(val_set, batch_size=config.batch_size, shuffle=False, num_workers=config.num_workers)
    return index, train_ids, val_ids, train_loader, val_loader


def _trainer(config: RetrainConfig, out_dir: Path, has_val: bool, progress: bool):
    every = max(1, min(config.val_every_n_steps, config.max_steps))
    options = dict(
        max_steps=config.max_steps,
        max_epochs=config.max_epochs,
        accelerator=config.accelerator,
        devices=config.devices,
        log_every_n_steps=min(10, every),
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    if has_val:  # after each validation: best.ckpt, then last.ckpt holding the updated best score
        options.update(val_check_interval=every, check_val_every_n_epoch=None)
    options.update(config.extra_trainer)
    return build_trainer(
        out_dir,
        options,
        has_val=has_val,
        last_schedule={} if has_val else dict(every_n_train_steps=every),
        progress="re-train encoder" if progress else None,
        early_stop=("val_loss", config.patience),
        callbacks=[exact_resume_callback(config.seed)],
    )  # order and noise from (seed, epoch, batch)


def _best_encoder_state(out_dir: Path) -> Optional[dict]:
    """Encoder weights of ``checkpoints/best.ckpt`` (lowest val_loss), if any."""
    path = out_dir / "checkpoints" / "best.ckpt"
    if not path.exists():
        return None
    state = load_tensors(path, what="checkpoint")["state_dict"]  # never run code from a file
    prefix = "model.encoder."
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def retrain(network_package, data_dir, out_dir, config: Optional[RetrainConfig] = None, progress: bool = True) -> Path:
    """Re-train the encoder of ``network_package`` on the stage-1 data ``data_dir``.

    Returns the path of ``out_dir/model.pth`` (a ``FastMVAE2``; load it with
    ``asteroid_mvae.models.load_model(path, n_src=N)``). Rerunning resumes from
    ``checkpoints/last.ckpt``.
    """
    import pytorch_lightning as pl

    from ..models import FastMVAE2
    from ..networks import ChimeraACVAE, load_network_package, save_network_package

    config = config or RetrainConfig()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    network, package = load_network_package(network_package)
    if not isinstance(network, ChimeraACVAE):
        raise ValueError(f"{network_package} holds a {package['network']}; re-training needs a ChimeraACVAE package")
    index, train_ids, val_ids, train_loader, val_loader = _loaders(data_dir, config)
    if int(index["settings"]["n_freq"]) != network.n_freq:
        raise ValueError(
            f"{data_dir} was made with an n_freq={index['settings']['n_freq']} network; "
            f"{network_package} has n_freq={network.n_freq}"
        )
    write_text(
        out_dir / "config.json",
        json.dumps(
            {"config": config.to_dict(), "data": str(data_dir), "network_package": str(network_package)}, indent=2
        )
        + "\n",
    )
    quiet_lightning()
    pl.seed_everything(config.seed, workers=True)
    decoder_before = {k: v.clone() for k, v in network.decoder.state_dict().items()}
    initial_val = mean_validation_loss(network, val_loader)

    handles = add_encoder_dropout(network, config.dropout)
    optimizer = torch.optim.Adam(network.encoder.parameters(), lr=config.lr)
    system = EncoderRetrainingSystem(network, optimizer, train_loader, val_loader, config=config.to_dict())
    trainer = _trainer(config, out_dir, val_loader is not None, progress)
    start = time.time()
    fit(trainer, system, out_dir)
    for handle in handles:
        handle.remove()
    best = _best_encoder_state(out_dir)
    if best is not None:
        network.encoder.load_state_dict(best)
    network.eval()
    for name, value in network.decoder.state_dict().items():
        if not torch.equal(value, decoder_before[name]):
            raise RuntimeError(f"decoder parameter {name} changed during re-training")

    summary = {
        "retrained": True,
        "retraining": {
            "method": "encoder re-training with mixture signals (Yamaji et al.), decoder frozen, IS loss",
            "base_network": str(network_package),
            "data": {
                "folder": str(data_dir),
                "train_mixtures": len(train_ids),
                "val_mixtures": len(val_ids),
                "train_samples": len(train_loader.dataset),
                "n_iter": int(index["settings"]["n_iter"]),
                "stft": index["settings"]["stft"],
                "n_src": sorted({int(e["n_src"]) for e in index["items"]}),
            },
            "config": config.to_dict(),
            "steps": int(trainer.global_step),
            "epochs": int(trainer.current_epoch),
            "val_loss_initial": initial_val,
            "val_loss_final": mean_validation_loss(network, val_loader),
            "selected": "best val_loss checkpoint" if best is not None else "last step",
        },
    }
    training = {**dict(package.get("training", {})), **summary}
    save_network_package(out_dir / "network.pt", network, package["input_scale"], package["label_map"], training)
    record_fit_time(out_dir, time.time() - start)
    model = FastMVAE2.from_network_package(out_dir / "network.pt")  # carries `training` as training_info
    save_torch(model.serialize(), out_dir / "model.pth")
    write_text(out_dir / "summary.json", json.dumps(plain(summary), indent=2) + "\n")
    return out_dir / "model.pth"


def load_retrained(path, **overrides):
    """A saved re-trained FastMVAE2 (``model.pth`` or its folder) in eval mode; its
    ``training_info`` (the model card's data) records the re-training. ``overrides`` as for
    ``load_model`` (e.g. ``n_src=3``)."""
    from ..models import load_model

    return load_model(str(path), **overrides).eval()
