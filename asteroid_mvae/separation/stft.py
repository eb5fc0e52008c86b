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
                f"hop_length must be in (0, n_fft/2] for exact reconstruction; "
                f"got {self.hop_length} (n_fft={self.n_fft})."
            )

    @property
    def n_freq(self) -> int:
        return self.n_fft // 2 + 1

    def window_tensor(self, like: torch.Tensor) -> torch.Tensor:
        dtype = like.real.dtype if like.is_complex() else like.dtype
        return WINDOWS[self.window](self.n_fft, dtype=dtype, device=like.device)

    def n_frames(self, n_samples: int) -> int:
        return 1 + n_samples // self.hop_length


#: ``torch.stft``/``torch.istft`` hold all frames of their input at once (about the size of the
#: spectrogram, twice in the inverse); signals whose frames exceed this go through in groups.
FRAMES_BYTES = 2**28


def _groups(n_signals: int, n_frames: int, config: StftConfig, element_size: int):
    """Slices of at most :data:`FRAMES_BYTES` of frames (one slice: everything at once)."""
    per_signal = max(1, n_frames * config.n_fft * element_size)
    size = max(1, FRAMES_BYTES // per_signal)
    return [slice(start, min(start + size, n_signals)) for start in range(0, n_signals, size)]


def stft(wav: torch.Tensor, config: StftConfig = StftConfig()) -> torch.Tensor:
    """Real ``[..., time]`` -> complex ``[..., freq, frames]`` (centred frames)."""
    lead, n_samples = wav.shape[:-1], wav.shape[-1]
    flat = wav.reshape(-1, n_samples)
    window = config.window_tensor(wav)
    transform = lambda x: torch.stft(
        x, config.n_fft, config.hop_length, window=window, center=True, return_complex=True
    )
    groups = _groups(flat.shape[0], config.n_frames(n_samples), config, wav.element_size())
    if len(groups) == 1:  # (torch.stft's output runs frequency-fastest: made row-major, as the engine reads it)
        spec = transform(flat).contiguous()
    else:  # long signals: the output once, each group's frames in turn
        spec = torch.empty(
            flat.shape[0], config.n_freq, config.n_frames(n_samples), dtype=flat.dtype.to_complex(), device=flat.device
        )
        for group in groups:
            spec[group] = transform(flat[group])
    return spec.reshape(*lead, *spec.shape[-2:])


def istft(spec: torch.Tensor, length: int, config: StftConfig = StftConfig()) -> torch.Tensor:
    """Complex ``[..., freq, frames]`` -> real ``[..., length]``; inverse of :func:`stft`."""
    lead = spec.shape[:-2]
    flat = spec.reshape(-1, *spec.shape[-2:])
    window = config.window_tensor(spec)
    inverse = lambda s: torch.istft(s, config.n_fft, config.hop_length, window=window, center=True, length=length)
    groups = _groups(flat.shape[0], spec.shape[-1], config, 2 * spec.real.element_size())
    if len(groups) == 1:
        wav = inverse(flat)
    else:  # long signals: the output once, each group's frames in turn
        wav = flat.real.new_empty(flat.shape[0], length)
        for group in groups:
            wav[group] = inverse(flat[group])
    return wav.reshape(*lead, length)
