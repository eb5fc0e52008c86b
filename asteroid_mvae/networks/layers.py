"""Building blocks of the source-model networks: 1-D convolutions over time, frequency bins as channels.

All tensors are ``[batch, channels, frames]``. Labels are ``[batch, n_labels]`` vectors
(one-hot or probabilities) broadcast over frames and concatenated on the channel axis.
"""

import contextlib
import math

import torch
import torch.nn.functional as F
from torch import nn

WEIGHT_STD = 0.01


def _conv(in_ch, out_ch, kernel, stride, padding, transposed):
    conv_class = nn.ConvTranspose1d if transposed else nn.Conv1d
    return conv_class(in_ch, out_ch, kernel, stride=stride, padding=padding)


class GatedConv1d(nn.Module):
    """Conv (or transposed conv) to ``2 * out_ch`` channels, BatchNorm over them, then GLU.

    ``[batch, in_ch, frames] -> [batch, out_ch, frames']``. With ``per_item_statistics`` set
    (see :func:`per_item_batchnorm`) the BatchNorm normalises each item of the batch with its
    own statistics over frames, as a training-mode BatchNorm on a batch of one would, and
    leaves the running statistics alone.
    """

    per_item_statistics = False

    def __init__(self, in_ch, out_ch, kernel, stride=1, padding=0, transposed=False):
        super().__init__()
        self.conv = _conv(in_ch, 2 * out_ch, kernel, stride, padding, transposed)
        self.norm = nn.BatchNorm1d(2 * out_ch)

    def forward(self, x):
        h = self.conv(x)
        if self.per_item_statistics:
            h = F.instance_norm(h, weight=self.norm.weight, bias=self.norm.bias, eps=self.norm.eps)
        else:
            h = self.norm(h)
        return F.glu(h, dim=1)


@contextlib.contextmanager
def per_item_batchnorm(module: nn.Module, enabled: bool = True):
    """Within the context, every :class:`GatedConv1d` of ``module`` uses per-item statistics.

    This is how the authors' FastMVAE and MVAE run their networks at separation time (never in
    eval mode, one source per pass): each source is normalised with its own statistics.
    """
    layers = [m for m in module.modules() if isinstance(m, GatedConv1d)] if enabled else []
    for layer in layers:
        layer.per_item_statistics = True
    try:
        yield
    finally:
        for layer in layers:
            layer.per_item_statistics = False


class SiLUConv1d(nn.Module):
    """Conv (or transposed conv) to ``out_ch`` channels, GroupNorm(1, out_ch) (a layer norm), SiLU."""

    def __init__(self, in_ch, out_ch, kernel, stride=1, padding=0, transposed=False):
        super().__init__()
        self.conv = _conv(in_ch, out_ch, kernel, stride, padding, transposed)
        self.norm = nn.GroupNorm(1, out_ch)

    def forward(self, x):
        return F.silu(self.norm(self.conv(x)))


def init_weights(module: nn.Module):
    """Convolution weights ~ N(0, 0.01^2), convolution biases 0 (norm layers keep 1 / 0)."""
    for sub in module.modules():
        if isinstance(sub, (nn.Conv1d, nn.ConvTranspose1d)):
            nn.init.normal_(sub.weight, 0.0, WEIGHT_STD)
            nn.init.zeros_(sub.bias)


def with_label(x, label):
    """Concatenate ``label [batch, n_labels]`` broadcast over frames to ``x [batch, ch, frames]``."""
    label = label.to(dtype=x.dtype, device=x.device)
    return torch.cat([x, label.unsqueeze(-1).expand(-1, -1, x.shape[-1])], dim=1)


def padded_length(n_frames: int, multiple: int, minimum: int = 0) -> int:
    """Smallest multiple of ``multiple`` that is >= ``max(n_frames, minimum)``."""
    return multiple * math.ceil(max(n_frames, minimum) / multiple)


def pad_frames(x, n_frames: int):
    """Zero-pad ``x [..., frames]`` at the end to ``n_frames`` frames (no-op when long enough)."""
    extra = n_frames - x.shape[-1]
    return F.pad(x, (0, extra)) if extra > 0 else x


def check_spectrogram(x, n_freq: int, name: str = "x"):
    """Raise a clear error unless ``x`` is ``[batch, n_freq, frames]`` with frames >= 1."""
    if x.dim() != 3 or x.shape[1] != n_freq or x.shape[2] < 1:
        raise ValueError(f"{name} must be [batch, n_freq={n_freq}, frames>=1], got shape {tuple(x.shape)}")


def check_label(label, batch: int, n_labels: int, name: str = "label"):
    """Raise a clear error unless ``label`` is ``[batch, n_labels]``."""
    if label.dim() != 2 or label.shape != (batch, n_labels):
        raise ValueError(f"{name} must be [batch={batch}, n_labels={n_labels}], got shape {tuple(label.shape)}")


class SourceNetwork(nn.Module):
    """What every source-model network shares: its sizes, their check, and its config.

    Args:
        n_labels: number of speaker labels L.
        n_freq: frequency bins F (DC dropped), divisible by 8.
    """

    network_name = None

    def __init__(self, n_labels: int, n_freq: int = 1024):
        super().__init__()
        if n_labels < 1 or n_freq < 8 or n_freq % 8:
            raise ValueError(f"need n_labels >= 1 and n_freq a positive multiple of 8, got {n_labels}, {n_freq}")
        self.n_labels = int(n_labels)
        self.n_freq = int(n_freq)

    @property
    def latent_channels(self) -> int:
        return self.n_freq // 8

    def get_config(self) -> dict:
        """Constructor keyword arguments (plain types)."""
        return {"n_labels": self.n_labels, "n_freq": self.n_freq}

    get_model_args = get_config  # asteroid naming
