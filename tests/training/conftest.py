"""A tiny synthetic speaker spectrogram dataset following the SpeakerSpectrogramDataset contract."""

import torch
from torch.utils.data import Dataset


class SyntheticSpeakers(Dataset):
    """Each speaker has a fixed spectral envelope; items are envelope x random excitation.

    Items: ``(magnitude float32 [n_freq, frames], label int64)``; ``label_map`` and ``labels``.
    """

    def __init__(self, n_speakers=3, items_per_speaker=12, n_freq=32, frames=16, seed=0):
        generator = torch.Generator().manual_seed(seed)
        envelopes = torch.rand(n_speakers, n_freq, 1, generator=generator) * 4 + 0.1
        self.label_map = {f"spk{s}": s for s in range(n_speakers)}
        self.labels = [s for s in range(n_speakers) for _ in range(items_per_speaker)]
        excitation = torch.rand(len(self.labels), 1, frames, generator=generator) + 0.5
        noise = torch.randn(len(self.labels), n_freq, frames, generator=generator).abs()
        self.items = envelopes[torch.tensor(self.labels)] * excitation * noise

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        return self.items[index].float(), torch.tensor(self.labels[index], dtype=torch.long)


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread(single_thread):
    """Every test here uses tiny networks (see tests/conftest.py)."""


@pytest.fixture(scope="session")
def synthetic_speakers():
    """The :class:`SyntheticSpeakers` class (conftest modules are not importable by name)."""
    return SyntheticSpeakers
