"""Train a PIT baseline with asteroid's System (Lightning) on reference-microphone mixtures.

Layout of ``exp_dir``::

    exp_dir/config.yml        the full configuration
    exp_dir/checkpoints/      Lightning checkpoints (``last.ckpt`` is resumed after a kill)
    exp_dir/logs/             CSV logs (loss, val_loss per epoch)
    exp_dir/best_model.pth    ``model.serialize()``: loads with ``BaseModel.from_pretrained``
"""

from pathlib import Path

import numpy as np
import torch
import yaml

from .. import catalogue, compat
from ..training.run import build_trainer, fit, quiet_lightning, record_fit_time
from ..training.sampling import EpochShuffleSampler, ResumableLoader
from ..training.systems import exact_resume_callback
from ..utils.config import merge
from ..utils.io import save_torch, write_text
from ..utils.safe_load import load_tensors
from .pit import build_pit_model

#: networks trained on mixtures (train_pit): the catalogue's PIT and mixture-trained kinds.
MIXTURE_MODELS = catalogue.names(*catalogue.MIXTURE_KINDS)

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
    "trainer": {
        "max_epochs": 50,
        "max_steps": -1,
        "accelerator": "auto",
        "devices": 1,
        "gradient_clip_val": 5.0,
        "log_every_n_steps": 10,
    },
}


def make_config(overrides=None) -> dict:
    """``DEFAULT_CONFIG`` with ``overrides`` merged in (:func:`asteroid_mvae.utils.config.merge`);
    ``config["model"]`` is the catalogue name of a network trained on mixtures."""
    config = merge(DEFAULT_CONFIG, overrides)
    config["model"] = catalogue.get(config["model"], *catalogue.MIXTURE_KINDS, what="model").name
    return config


class ReferenceChannelDataset(torch.utils.data.Dataset):
    """``(mixture [mics, time], references [src, time])`` items -> ``(mixture[ref_mic] [time], references)``.

    With ``segment`` samples, each item is a crop at an offset drawn from a generator seeded
    by ``(seed, index, epoch)`` (call :meth:`set_epoch`), zero-padded when shorter.
    """

    def __init__(self, dataset, ref_mic: int = 0, segment=None, seed: int = 0, random_crop: bool = True):
        self.dataset, self.ref_mic, self.segment, self.seed, self.random_crop = (
            dataset,
            ref_mic,
            segment,
            seed,
            random_crop,
        )
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
        return mix[start : start + self.segment], references[:, start : start + self.segment]


def _loaders(train_set, valid_set, config):
    optim = config["optim"]
    segment = None if config["segment_seconds"] is None else int(config["segment_seconds"] * config["sample_rate"])
    batch_size = optim["batch_size"] if segment is not None else 1
    train = ReferenceChannelDataset(train_set, config["ref_mic"], segment, config["seed"])
    train_loader = ResumableLoader(
        train,
        batch_size=batch_size,
        drop_last=False,
        sampler=EpochShuffleSampler(len(train), config["seed"]),
        num_workers=optim["num_workers"],
    )
    valid_loader = None
    if valid_set is not None:
        valid = ReferenceChannelDataset(valid_set, config["ref_mic"], segment, config["seed"], random_crop=False)
        valid_loader = torch.utils.data.DataLoader(
            valid, batch_size=batch_size, shuffle=False, num_workers=optim["num_workers"]
        )
    return train, train_loader, valid_loader


def train_pit(train_set, exp_dir, config=None, valid_set=None) -> Path:
    """Train ``config["model"]`` with PIT (negative SI-SDR; ``deep_clustering``: asteroid's deep
    clustering loss on its embeddings; ``mixit``, ``vaebss``: unsupervised, references unused)
    and write ``exp_dir/best_model.pth``.

    Rerunning with the same ``exp_dir`` resumes from ``checkpoints/last.ckpt``.
    Returns the path of the serialized model.
    """
    import pytorch_lightning as pl
    from asteroid.losses import PITLossWrapper, pairwise_neg_sisdr

    config = make_config(config)
    exp_dir = Path(exp_dir)
    exp_dir.mkdir(parents=True, exist_ok=True)
    write_text(exp_dir / "config.yml", yaml.safe_dump(compat.plain(config), sort_keys=False))
    quiet_lightning()
    pl.seed_everything(config["seed"], workers=True)
    train, train_loader, valid_loader = _loaders(train_set, valid_set, config)
    entry = catalogue.get(config["model"])
    if entry.kind == "pit":  # supervised: permutation-invariant negative SI-SDR
        model = build_pit_model(entry.name, config["n_src"], config["sample_rate"], config["size"], **config["network"])
        system_class, loss = entry.load("system"), PITLossWrapper(pairwise_neg_sisdr, pit_from="pw_mtx")
    else:  # deep clustering (embeddings), MixIT and VAE-BSS (unsupervised): their own systems and losses
        model = entry.load("build")(config["n_src"], config["sample_rate"], config["size"], **config["network"])
        system_class, loss = entry.load("system"), None
    optimizer = torch.optim.Adam(
        model.parameters(), lr=config["optim"]["lr"], weight_decay=config["optim"]["weight_decay"]
    )
    system = system_class(model, optimizer, loss, train_loader, valid_loader, config=compat.plain(config))

    # last.ckpt after each validation (after best.ckpt: it then holds the updated best score), or
    # without validation at the end of each epoch's last batch; never in on_train_epoch_end, whose
    # checkpoints Lightning resumes with a stateful loader one epoch off (test_baselines)
    schedule = (
        dict(save_on_train_epoch_end=False) if valid_loader is not None else dict(every_n_train_steps=len(train_loader))
    )
    trainer = build_trainer(
        exp_dir,
        config["trainer"],
        has_val=valid_loader is not None,
        last_schedule=schedule,
        progress=f"train {config['model']} (PIT)",
        callbacks=[exact_resume_callback(config["seed"])],
    )  # the loader gives `train` its epoch
    fit_seconds = fit(trainer, system, exp_dir)

    checkpoint_dir = exp_dir / "checkpoints"
    best = checkpoint_dir / "best.ckpt"
    if best.exists():
        state = load_tensors(best, what="checkpoint")["state_dict"]  # never run code from a file
        model.load_state_dict({k[len("model.") :]: v for k, v in state.items() if k.startswith("model.")})
    package = model.serialize()
    package["training"] = {"steps": int(trainer.global_step), "epochs": int(trainer.current_epoch), "config": config}
    out = exp_dir / "best_model.pth"
    if trainer.is_global_zero:
        save_torch(compat.plain(package), out)
        record_fit_time(exp_dir, fit_seconds)
    return out
