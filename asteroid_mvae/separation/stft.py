"""Multichannel STFT front end on ``torch.stft``/``torch.istft`` (exact reconstruction).

Axis order: waveforms ``[..., time]`` become spectrograms ``[..., freq, frames]``, so a
mixture ``[batch, mics, time]`` maps to ``[batch, mics, freq, frames]`` and back.
"""
from dataclasses import dataclass

import torch

WINDOWS = {"hamming": torch.hamming_window, "hann": torch.hann_window}


@dataclass(frozen=True)
class StftConfig:
    """STFT settings. Defaults are the MVAE papers': 16 kHz, Hamming 2048 (128 ms), hop 1024."""

    n_fft: int = 2048
    hop_length: int = 1024
    window: str = "hamming"

    def __post_init__(self):
        if self.window not in WINDOWS:
            raise ValueError(f"Unknown window {self.window!r}; choose one of {sorted(WINDOWS)}.")
        if not 0 < self.hop_length <= self.n_fft // 2:
            raise ValueError(
                f"hop_length must be in (0, n_fft/2] for exact reconstruction; got {self.hop_length} (n_fft={self.n_fft})."
            )

    @property
    def n_freq(self) -> int:
        return self.n_fft // 2 + 1

    def window_tensor(self, like: torch.Tensor) -> torch.Tensor:
        dtype = like.real.dtype if like.is_complex() else like.dtype
        return WINDOWS[self.window](self.n_fft, dtype=dtype, device=like.device)

    def n_frames(self, n_samples: int) -> int:
        return 1 + n_samples // self.hop_length


def stft(wav: torch.Tensor, config: StftConfig = StftConfig()) -> torch.Tensor:
    """Real ``[..., time]`` -> complex ``[..., freq, frames]`` (centred frames)."""
    lead, n_samples = wav.shape[:-1], wav.shape[-1]
    spec = torch.stft(
        wav.reshape(-1, n_samples),
        config.n_fft,
        config.hop_length,
        window=config.window_tensor(wav),
        center=True,
        return_complex=True,
    )
    return spec.reshape(*lead, *spec.shape[-2:])


def istft(spec: torch.Tensor, length: int, config: StftConfig = StftConfig()) -> torch.Tensor:
    """Complex ``[..., freq, frames]`` -> real ``[..., length]``; inverse of :func:`stft`."""
    lead = spec.shape[:-2]
    wav = torch.istft(
        spec.reshape(-1, *spec.shape[-2:]),
        config.n_fft,
        config.hop_length,
        window=config.window_tensor(spec),
        center=True,
        length=length,
    )
    return wav.reshape(*lead, length)
