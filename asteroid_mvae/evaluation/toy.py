"""A tiny simulated dataset (pyroomacoustics shoebox) for tests and smoke runs.

Sources are speech-like noise: coloured Gaussian noise under a random syllable-rate envelope
(non-stationary and super-Gaussian, which is what IVA/ILRMA rely on). Items follow the
``MixtureDataset`` contract: ``(mixture float32 [mics, time], references float32 [src, time])``
where the references are each source's reverberant image at microphone 0.
"""

import numpy as np
import torch
from scipy.signal import lfilter


def speech_like_noise(n_samples: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Coloured noise with a random on/off envelope at about 4 Hz -> ``[time]``."""
    block = sample_rate // 8
    n_blocks = n_samples // block + 1
    envelope = rng.gamma(0.5, 1.0, n_blocks) * (rng.random(n_blocks) > 0.3)
    envelope = np.repeat(envelope, block)[:n_samples]
    envelope = np.convolve(envelope, np.hanning(block // 4) / (block // 8), mode="same")
    pole = rng.uniform(-0.9, 0.9)
    noise = lfilter([1.0], [1.0, -pole], rng.standard_normal(n_samples))
    signal = envelope * noise
    return signal / (np.abs(signal).max() + 1e-9)


def simulate_mixture(
    n_src: int = 2, seconds: float = 2.0, sample_rate: int = 16000, rt60: float = 0.15, seed: int = 0, signals=None
):
    """One shoebox mixture with ``n_src`` sources and ``n_src`` microphones (``signals``: the dry
    sources ``[n_src][time]`` to use instead of speech-like noise, cut to ``seconds``).

    Returns ``(mixture [mics, time], references [src, time])`` float32 numpy arrays.
    """
    import pyroomacoustics as pra

    rng = np.random.default_rng(seed)
    room_dim = [6.0, 5.0, 3.0]
    absorption, max_order = pra.inverse_sabine(rt60, room_dim)
    room = pra.ShoeBox(room_dim, fs=sample_rate, materials=pra.Material(absorption), max_order=max_order)
    n_samples = int(seconds * sample_rate)
    center = np.array([3.0, 2.5, 1.5])
    angles = np.linspace(0, np.pi, n_src + 2)[1:-1] + rng.uniform(-0.2, 0.2, n_src)
    for k, angle in enumerate(angles):
        position = center + 1.5 * np.array([np.cos(angle), np.sin(angle), 0.0])
        signal = (
            speech_like_noise(n_samples, sample_rate, rng) if signals is None else np.asarray(signals[k])[:n_samples]
        )
        room.add_source(position, signal=signal)
    mic_offsets = (np.arange(n_src) - (n_src - 1) / 2) * 0.05
    mics = np.stack([center + np.array([d, 0.0, 0.0]) for d in mic_offsets], axis=1)
    room.add_microphone_array(mics)
    premix = room.simulate(return_premix=True)[:, :, :n_samples]  # [src, mics, time]
    references = premix[:, 0]
    mixture = premix.sum(0)
    peak = np.abs(mixture).max() + 1e-9
    return (mixture / peak).astype(np.float32), (references / peak).astype(np.float32)


class ToyMixtureDataset(torch.utils.data.Dataset):
    """``n_mixtures`` simulated mixtures, built once in memory (seeded by index)."""

    def __init__(
        self,
        n_mixtures: int = 2,
        n_src: int = 2,
        seconds: float = 2.0,
        sample_rate: int = 16000,
        rt60: float = 0.15,
        seed: int = 0,
    ):
        self.sample_rate = sample_rate
        self.items = [simulate_mixture(n_src, seconds, sample_rate, rt60, seed + i) for i in range(n_mixtures)]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, idx):
        mixture, references = self.items[idx]
        return torch.from_numpy(mixture), torch.from_numpy(references)
