"""Training data plumbing: dataset construction, per-speaker validation split, input scale, loaders.

Dataset contract (``asteroid_mvae.data.datasets.SpeakerSpectrogramDataset``): items
``(magnitude float32 [n_freq, frames], label int64)``, attributes ``label_map`` ({speaker: index})
and ``labels`` (per-item label indices).
"""

import math
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Subset

from .sampling import BalancedSpeakerSampler


def build_dataset(data_config: dict, seed: int = 0):
    """Build the ``SpeakerSpectrogramDataset`` of ``config["data"]["root"]`` (an
    ``asteroid-mvae simulate-speakers`` output folder or its metadata CSV)."""
    from ..data.datasets import SpeakerSpectrogramDataset

    root = data_config.get("root")
    if not root:
        raise ValueError("config['data']['root'] must name a simulate-speakers folder (or pass a dataset)")
    if not Path(root).exists():
        raise FileNotFoundError(f"training data not found: {root} (run asteroid-mvae simulate-speakers first)")
    return SpeakerSpectrogramDataset(root, seed=seed, **data_config.get("dataset_args", {}))


def check_dataset(dataset):
    """Raise a clear error unless ``dataset`` follows the speaker-spectrogram contract."""
    for attribute in ("label_map", "labels"):
        if not hasattr(dataset, attribute):
            raise TypeError(f"training dataset {type(dataset).__name__} lacks the attribute {attribute!r}")
    if len(dataset) != len(dataset.labels):
        raise ValueError(f"dataset has {len(dataset)} items but {len(dataset.labels)} labels")
    if len(dataset) == 0:
        raise ValueError("training dataset is empty")
    n_labels = len(dataset.label_map)
    bad = [int(l) for l in dataset.labels if not 0 <= int(l) < n_labels]
    if bad:
        raise ValueError(f"labels {sorted(set(bad))[:5]} are outside label_map's range [0, {n_labels})")


def split_per_speaker(labels, val_fraction: float, seed: int):
    """Indices ``(train, val)``: ``val_fraction`` of each speaker's items (rounded, >= 1 item
    when the speaker has >= 2 and ``val_fraction > 0``) go to validation."""
    labels = torch.as_tensor([int(l) for l in labels])
    generator = torch.Generator().manual_seed(seed)
    train, val = [], []
    for speaker in torch.unique(labels).tolist():
        items = torch.nonzero(labels == speaker).flatten()
        items = items[torch.randperm(len(items), generator=generator)].tolist()
        n_val = 0
        if val_fraction > 0 and len(items) >= 2:
            n_val = min(len(items) - 1, max(1, round(val_fraction * len(items))))
        val += items[:n_val]
        train += items[n_val:]
    return sorted(train), sorted(val)


def compute_input_scale(dataset, indices, max_items: int, seed: int) -> float:
    """Global RMS ``sqrt(mean(|S|^2))`` of the magnitudes of (up to ``max_items`` random) items."""
    generator = torch.Generator().manual_seed(seed)
    indices = list(indices)
    if len(indices) > max_items:
        indices = [indices[i] for i in torch.randperm(len(indices), generator=generator)[:max_items].tolist()]
    total, count = 0.0, 0
    for index in indices:
        magnitude = torch.as_tensor(dataset[index][0], dtype=torch.float64)
        total += magnitude.pow(2).sum().item()
        count += magnitude.numel()
    scale = math.sqrt(total / max(count, 1))
    if not scale > 0:
        raise ValueError("the training magnitudes are all zero: cannot compute the input scale")
    return scale


def make_loaders(dataset, train_indices, val_indices, batch_size: int, num_workers: int, seed: int):
    """Training loader (speaker-balanced, drop_last) and validation loader (or ``None``)."""
    train_labels = [int(dataset.labels[i]) for i in train_indices]
    sampler = BalancedSpeakerSampler(train_labels, seed=seed)
    train_loader = DataLoader(
        Subset(dataset, train_indices),
        batch_size=min(batch_size, len(train_indices)),
        sampler=sampler,
        drop_last=True,
        num_workers=num_workers,
        persistent_workers=False,  # workers see the dataset's new epoch
    )
    val_loader = None
    if val_indices:
        val_loader = DataLoader(
            Subset(dataset, val_indices),
            batch_size=batch_size,
            shuffle=False,
            num_workers=num_workers,
            persistent_workers=False,
        )
    return train_loader, val_loader
