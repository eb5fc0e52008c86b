"""Conditional VAE source models (MVAE: Kameoka et al. 2019) and the auxiliary-classifier ACVAE.

Conventions shared by every network of this package:

- Input ``x``: scaled magnitude spectrogram ``[batch, n_freq, frames]`` (DC bin dropped),
  ``x = |S| / input_scale`` (see :mod:`asteroid_mvae.networks.package`).
- Labels: ``[batch, n_labels]`` float vectors (one-hot or probabilities).
- Latent: mean / log-variance ``[batch, n_freq // 8, ceil(max(frames, 8) / 4)]``; ``encode`` pads
  the frames with zeros to a multiple of 4 (and at least 8) internally.
- ``decode(z, label, n_frames=None)`` returns the log power (log variance of the complex
  Gaussian source model, in the scaled domain) ``[batch, n_freq, 4 * latent_frames]``,
  clamped at >= -80; pass ``n_frames`` to crop it to the input's frame count.
"""

import math

import torch
from torch import nn

from .layers import (
    GatedConv1d,
    SourceNetwork,
    check_label,
    check_spectrogram,
    init_weights,
    pad_frames,
    padded_length,
    with_label,
)

LOG_POWER_FLOOR = -80.0
CLASS_PROB_FLOOR = 1e-35
FRAME_MULTIPLE = 4
MIN_FRAMES = 8


class LabelConditionedDecoder(nn.Module):
    """Latent ``[batch, F/8, T/4]`` + label -> log power ``[batch, F, T]`` (label before every layer)."""

    def __init__(self, n_freq, n_labels, layer=GatedConv1d):
        super().__init__()
        self.layers = nn.ModuleList(
            [
                layer(n_freq // 8 + n_labels, n_freq // 4, 4, stride=2, padding=1, transposed=True),
                layer(n_freq // 4 + n_labels, n_freq // 2, 4, stride=2, padding=1, transposed=True),
                nn.ConvTranspose1d(n_freq // 2 + n_labels, n_freq, 5, stride=1, padding=2),
            ]
        )

    def forward(self, z, label):
        out = z
        for layer in self.layers:
            out = layer(with_label(out, label))
        return out.clamp(min=LOG_POWER_FLOOR)


class LabelConditionedEncoder(nn.Module):
    """Magnitude ``[batch, F, T]`` + label -> (mean, logvar) ``[batch, F/8, T/4]``."""

    def __init__(self, n_freq, n_labels):
        super().__init__()
        self.layers = nn.ModuleList(
            [
                GatedConv1d(n_freq + n_labels, n_freq // 2, 5, stride=1, padding=2),
                GatedConv1d(n_freq // 2 + n_labels, n_freq // 4, 4, stride=2, padding=1),
                nn.Conv1d(n_freq // 4 + n_labels, 2 * (n_freq // 8), 4, stride=2, padding=1),
            ]
        )

    def forward(self, x, label):
        out = x
        for layer in self.layers:
            out = layer(with_label(out, label))
        mean, logvar = out.chunk(2, dim=1)
        return mean, logvar


def reparameterize(mean, logvar):
    """Sample ``z = mean + exp(logvar / 2) * eps`` with ``eps ~ N(0, I)``."""
    return mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)


def crop_frames(x, n_frames):
    """Crop ``x [..., frames]`` to ``n_frames`` (``None`` keeps all)."""
    return x if n_frames is None else x[..., :n_frames]


class CVAE(SourceNetwork):
    """Conditional VAE source model: label-conditioned gated-conv encoder and decoder.

    Args:
        n_labels: number of speaker labels L.
        n_freq: frequency bins F (DC dropped), divisible by 8.

    References:
        [1] H. Kameoka, L. Li, S. Inoue, S. Makino, "Supervised determined source separation with
            multichannel variational autoencoder", Neural Computation, vol. 31, no. 9, 2019.
        [2] D. P. Kingma, D. J. Rezende, S. Mohamed, M. Welling, "Semi-supervised learning with deep
            generative models", in Proc. NeurIPS, 2014 (the conditional VAE).
    """

    network_name = "CVAE"

    def __init__(self, n_labels: int, n_freq: int = 1024):
        super().__init__(n_labels, n_freq)
        self.encoder = LabelConditionedEncoder(self.n_freq, self.n_labels)
        self.decoder = LabelConditionedDecoder(self.n_freq, self.n_labels, GatedConv1d)
        init_weights(self)

    def encode(self, x, label):
        """``x [batch, F, T]``, ``label [batch, L]`` -> (mean, logvar) ``[batch, F/8, ceil(max(T, 8)/4)]``."""
        check_spectrogram(x, self.n_freq)
        check_label(label, x.shape[0], self.n_labels)
        x = pad_frames(x, padded_length(x.shape[-1], FRAME_MULTIPLE, MIN_FRAMES))
        return self.encoder(x, label)

    def decode(self, z, label, n_frames=None):
        """``z [batch, F/8, T']``, ``label [batch, L]`` -> log power ``[batch, F, 4T']`` (or ``n_frames``)."""
        check_label(label, z.shape[0], self.n_labels)
        return crop_frames(self.decoder(z, label), n_frames)

    def forward(self, x, label):
        """Training pass: returns (log_power ``[batch, F, T]``, mean, logvar) with a sampled latent."""
        mean, logvar = self.encode(x, label)
        log_power = self.decode(reparameterize(mean, logvar), label, n_frames=x.shape[-1])
        return log_power, mean, logvar


class FrameClassifier(nn.Module):
    """Gated-conv speaker classifier: magnitude ``[batch, F, T]`` -> frame logits ``[batch, L, T/8]``."""

    def __init__(self, n_freq, n_labels):
        super().__init__()
        self.net = nn.Sequential(
            GatedConv1d(n_freq, n_freq // 2, 5, stride=1, padding=2),
            GatedConv1d(n_freq // 2, n_freq // 4, 4, stride=2, padding=1),
            GatedConv1d(n_freq // 4, n_freq // 16, 4, stride=2, padding=1),
            nn.Conv1d(n_freq // 16, n_labels, 4, stride=2, padding=1),
        )

    def forward(self, x):
        return self.net(x)


class ACVAE(CVAE):
    """CVAE with an auxiliary speaker classifier (FastMVAE's source model).

    References:
        [1] H. Kameoka, T. Kaneko, K. Tanaka, N. Hojo, "ACVAE-VC: Non-parallel voice conversion with
            auxiliary classifier variational autoencoder", IEEE/ACM Trans. Audio, Speech, Lang. Process.,
            vol. 27, no. 9, 2019.
        [2] L. Li, H. Kameoka, S. Inoue, S. Makino, "FastMVAE: A fast optimization algorithm for the
            multichannel variational autoencoder method", IEEE Access, vol. 8, 2020.
    """

    network_name = "ACVAE"

    def __init__(self, n_labels: int, n_freq: int = 1024):
        super().__init__(n_labels, n_freq)
        self.classifier = FrameClassifier(self.n_freq, self.n_labels)
        init_weights(self.classifier)

    def classify_log(self, x):
        """``x [batch, F, T]`` -> log of the clamped class scores ``[batch, L]``.

        Score = product over output frames of the per-frame softmax over labels, clamped at
        >= 1e-35; computed as a clamped sum of log-softmax (same value, no underflow).
        """
        check_spectrogram(x, self.n_freq)
        x = pad_frames(x, padded_length(x.shape[-1], 8))
        frame_log_probs = torch.log_softmax(self.classifier(x), dim=1)
        return frame_log_probs.sum(dim=-1).clamp(min=math.log(CLASS_PROB_FLOOR))

    def classify(self, x):
        """``x [batch, F, T]`` -> class scores ``[batch, L]`` (product over time of softmax, >= 1e-35)."""
        return self.classify_log(x).exp()
