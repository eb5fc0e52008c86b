"""Train a PIT baseline with asteroid's System (Lightning) on reference-microphone mixtures.

Layout of ``exp_dir``::

    exp_dir/config.yml        the full configuration
    exp_dir/checkpoints/      Lightning checkpoints (``last.ckpt`` is resumed after a kill)
    exp_dir/logs/             CSV logs (loss, val_loss per epoch)
    exp_dir/best_model.pth    ``model.serialize()``: loads with ``BaseModel.from_pretrained``
"""
import copy
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from .. import compat
from ..training.run import best_checkpoint, last_checkpoint, quiet_lightning, record_fit_time
from ..training.sampling import EpochShuffleSampler, ResumableLoader
from ..training.systems import exact_resume_callback
from ..utils.io import save_torch, write_text
from ..utils.progress import on_terminal, training_progress_callback
from ..utils.safe_load import load_tensors
from .pit import PIT_MODELS, build_pit_model

MIXTURE_MODELS = PIT_MODELS + ("deep_clustering", "mixit", "vaebss")  #: networks trained on mixtures (train_pit)

DEFAULT_CONFIG = {
    "model": "convtasnet",
    "size": "tiny",  # "tiny" (CPU smoke runs) or "standard" (published sizes)
    "network": {},  # overrides of the size preset
    "n_src": 2,
    "sample_rate": 16000,
    "ref_mic": 0,
    "segment_seconds": 2.0,  # training crops; None = whole mixtures (batch_size 1)
    "seed": 0,
    "optim": {"lr": 1e-3, "batch_size": 4, "weight_decay": 0.0, "num_workers": 0},
    "trainer": {"max_epochs": 50, "max_steps": -1, "accelerator": "auto", "devices": 1,
                "gradient_clip_val": 5.0, "log_every_n_steps": 10},
}


def make_config(overrides=None) -> dict:
    """``DEFAULT_CONFIG`` with ``overrides`` merged in (one level deep for dict entries)."""
    config = copy.deepcopy(DEFAULT_CONFIG)
    for key, value in (overrides or {}).items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key].update(value)
        else:
            config[key] = value
    return config


class ReferenceChannelDataset(torch.utils.data.Dataset):
    """``(mixture [mics, time], references [src, time])`` items -> ``(mixture[ref_mic] [time], references)``.

    With ``segment`` samples, each item is a crop at an offset drawn from a generator seeded
    by ``(seed, index, epoch)`` (call :meth:`set_epoch`), zero-padded when shorter.
    """

    def __init__(self, dataset, ref_mic: int = 0, segment=None, seed: int = 0, random_crop: bool = True):
        self.dataset, self.ref_mic, self.segment, self.seed, self.random_crop = dataset, ref_mic, segment, seed, random_crop
        self.epoch = 0

    def set_epoch(self, epoch: int):
        self.epoch = epoch

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, idx):
        mixture, references = (torch.as_tensor(np.asarray(x), dtype=torch.float32) for x in self.dataset[idx][:2])
        if mixture.dim() != 2 or not 0 <= self.ref_mic < mixture.shape[0]:
            raise ValueError(f"item {idx}: mixture {tuple(mixture.shape)} has no microphone {self.ref_mic}.")
        mix = mixture[self.ref_mic]
        if self.segment is None:
            return mix, references
        length = mix.shape[-1]
        if length <= self.segment:
            pad = self.segment - length
            return torch.nn.functional.pad(mix, (0, pad)), torch.nn.functional.pad(references, (0, pad))
        if self.random_crop:
            rng = np.random.default_rng((self.seed, idx, self.epoch))
            start = int(rng.integers(0, length - self.segment + 1))
        else:
            start = (length - self.segment) // 2
        return mix[start:start + self.segment], references[:, start:start + self.segment]


def _loaders(train_set, valid_set, config):
    optim = config["optim"]
    segment = None if config["segment_seconds"] is None else int(config["segment_seconds"] * config["sample_rate"])
    batch_size = optim["batch_size"] if segment is not None else 1
    train = ReferenceChannelDataset(train_set, config["ref_mic"], segment, config["seed"])
    train_loader = ResumableLoader(train, batch_size=batch_size, drop_last=False,
                                               sampler=EpochShuffleSampler(len(train), config["seed"]),
                                               num_workers=optim["num_workers"])
    valid_loader = None
    if valid_set is not None:
        valid = ReferenceChannelDataset(valid_set, config["ref_mic"], segment, config["seed"], random_crop=False)
        valid_loader = torch.utils.data.DataLoader(valid, batch_size=batch_size, shuffle=False,
                                                   num_workers=optim["num_workers"])
    return train, train_loader, valid_loader


def train_pit(train_set, exp_dir, config=None, valid_set=None) -> Path:
    """Train ``config["model"]`` with PIT (negative SI-SDR; ``deep_clustering``: asteroid's deep
    clustering loss on its embeddings; ``mixit``, ``vaebss``: unsupervised, references unused)
    and write ``exp_dir/best_model.pth``.

    Rerunning with the same ``exp_dir`` resumes from ``checkpoints/last.ckpt``.
    Returns the path of the serialized model.
    """
    import pytorch_lightning as pl
    from asteroid.engine import System
    from asteroid.losses import PITLossWrapper, pairwise_neg_sisdr
    from pytorch_lightning.loggers import CSVLogger

    config = make_config(config)
    exp_dir = Path(exp_dir)
    exp_dir.mkdir(parents=True, exist_ok=True)
    write_text(exp_dir / "config.yml", yaml.safe_dump(compat.plain(config), sort_keys=False))
    quiet_lightning()
    pl.seed_everything(config["seed"], workers=True)
    train, train_loader, valid_loader = _loaders(train_set, valid_set, config)
    if config["model"] == "deep_clustering":  # trained on embeddings, not on separated signals
        from .deep_clustering import DeepClusteringSystem, build_deep_clustering

        model = build_deep_clustering(config["n_src"], config["sample_rate"], config["size"], **config["network"])
        system_class, loss = DeepClusteringSystem, None
    elif config["model"] == "vaebss":  # unsupervised: mixtures only
        from .vaebss import VAEBSSSystem, build_vaebss

        model = build_vaebss(config["n_src"], config["sample_rate"], config["size"], **config["network"])
        system_class, loss = VAEBSSSystem, None
    elif config["model"] == "mixit":  # unsupervised: mixtures of mixtures, asteroid's MixITLossWrapper
        from .mixit import MixITSystem, build_mixit

        model = build_mixit(config["n_src"], config["sample_rate"], config["size"], **config["network"])
        system_class, loss = MixITSystem, None
    else:
        model = build_pit_model(config["model"], config["n_src"], config["sample_rate"], config["size"],
                                **config["network"])
        system_class, loss = System, PITLossWrapper(pairwise_neg_sisdr, pit_from="pw_mtx")
    optimizer = torch.optim.Adam(model.parameters(), lr=config["optim"]["lr"],
                                 weight_decay=config["optim"]["weight_decay"])
    system = system_class(model, optimizer, loss, train_loader, valid_loader, config=compat.plain(config))

    checkpoint_dir = exp_dir / "checkpoints"
    # last.ckpt after each validation (after best.ckpt: it then holds the updated best score), or
    # without validation at the end of each epoch's last batch; never in on_train_epoch_end, whose
    # checkpoints Lightning resumes with a stateful loader one epoch off (test_baselines)
    if valid_loader is not None:
        checkpoints = [best_checkpoint(checkpoint_dir), last_checkpoint(checkpoint_dir, save_on_train_epoch_end=False)]
    else:
        checkpoints = [last_checkpoint(checkpoint_dir, every_n_train_steps=len(train_loader))]
    callbacks = [*checkpoints, exact_resume_callback(config["seed"])]  # the loader gives `train` its epoch
    options = {k: v for k, v in config["trainer"].items() if v is not None}
    if valid_loader is None:
        options["limit_val_batches"] = 0
    if not (options.get("enable_progress_bar", True) and on_terminal()):  # log files: a line per 10 %
        options["enable_progress_bar"] = False
        callbacks.append(training_progress_callback(f"train {config['model']} (PIT)"))
    trainer = pl.Trainer(default_root_dir=str(exp_dir), logger=CSVLogger(str(exp_dir), name="logs"),
                         callbacks=callbacks, **options)
    last = checkpoint_dir / "last.ckpt"
    start = time.time()
    trainer.fit(system, ckpt_path=str(last) if last.exists() else None, weights_only=True)  # never run code from a file
    fit_seconds = time.time() - start

    best = checkpoint_dir / "best.ckpt"
    if best.exists():
        state = load_tensors(best, what="checkpoint")["state_dict"]  # never run code from a file
        model.load_state_dict({k[len("model."):]: v for k, v in state.items() if k.startswith("model.")})
    package = model.serialize()
    package["training"] = {"steps": int(trainer.global_step), "epochs": int(trainer.current_epoch), "config": config}
    out = exp_dir / "best_model.pth"
    if trainer.is_global_zero:
        save_torch(compat.plain(package), out)
        record_fit_time(exp_dir, fit_seconds)
    return out
