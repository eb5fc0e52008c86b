"""ChimeraACVAE (FastMVAE2, Li et al. 2023): a label-free encoder with latent and class heads.

Same tensor conventions as :mod:`asteroid_mvae.networks.cvae`. The encoder takes no label:
it returns the latent posterior and the speaker-class logits; the decoder is the CVAE's with
SiLU layers (conv, GroupNorm(1, C), SiLU).
"""

from torch import nn

from .cvae import (
    FRAME_MULTIPLE,
    MIN_FRAMES,
    LabelConditionedDecoder,
    crop_frames,
    reparameterize,
)
from .layers import SiLUConv1d, SourceNetwork, check_label, check_spectrogram, init_weights, pad_frames, padded_length


class ChimeraEncoder(nn.Module):
    """Magnitude ``[batch, F, T]`` -> (mean, logvar ``[batch, F/8, T/4]``, class logits ``[batch, L]``)."""

    def __init__(self, n_freq, n_labels):
        super().__init__()
        self.trunk = nn.Sequential(
            SiLUConv1d(n_freq, n_freq // 2, 5, stride=1, padding=2),
            SiLUConv1d(n_freq // 2, n_freq // 4, 4, stride=2, padding=1),
        )
        self.latent_head = nn.Conv1d(n_freq // 4, 2 * (n_freq // 8), 4, stride=2, padding=1)
        self.class_head = nn.Sequential(
            SiLUConv1d(n_freq // 4, n_freq // 4, 4, stride=2, padding=1),
            nn.Conv1d(n_freq // 4, n_labels, 4, stride=2, padding=1),
        )

    def forward(self, x):
        hidden = self.trunk(x)
        mean, logvar = self.latent_head(hidden).chunk(2, dim=1)
        class_logits = self.class_head(hidden).mean(dim=-1)
        return mean, logvar, class_logits


class ChimeraACVAE(SourceNetwork):
    """Chimera ACVAE source model: ``encode(x) -> (mean, logvar, class_logits)``, ``decode(z, probs)``.

    Args:
        n_labels: number of speaker labels L.
        n_freq: frequency bins F (DC dropped), divisible by 8.

    References:
        [1] L. Li, H. Kameoka, S. Makino, "FastMVAE2: On improving and accelerating the fast variational
            autoencoder-based source separation algorithm for determined mixtures", IEEE/ACM Trans. Audio,
            Speech, Lang. Process., vol. 31, 2023.
    """

    network_name = "ChimeraACVAE"

    def __init__(self, n_labels: int, n_freq: int = 1024):
        super().__init__(n_labels, n_freq)
        self.encoder = ChimeraEncoder(self.n_freq, self.n_labels)
        self.decoder = LabelConditionedDecoder(self.n_freq, self.n_labels, SiLUConv1d)
        init_weights(self)

    def encode(self, x):
        """``x [batch, F, T]`` -> mean, logvar ``[batch, F/8, ceil(max(T, 8)/4)]``, logits ``[batch, L]``.

        Class posterior = ``softmax(class_logits, dim=-1)`` (logits are averaged over time).
        """
        check_spectrogram(x, self.n_freq)
        x = pad_frames(x, padded_length(x.shape[-1], FRAME_MULTIPLE, MIN_FRAMES))
        return self.encoder(x)

    def decode(self, z, label_probs, n_frames=None):
        """``z [batch, F/8, T']``, ``label_probs [batch, L]`` -> log power ``[batch, F, 4T']`` (or ``n_frames``)."""
        check_label(label_probs, z.shape[0], self.n_labels, "label_probs")
        return crop_frames(self.decoder(z, label_probs), n_frames)

    def forward(self, x, label_probs):
        """Training pass: (log_power ``[batch, F, T]``, mean, logvar, class_logits) decoded with ``label_probs``."""
        mean, logvar, class_logits = self.encode(x)
        log_power = self.decode(reparameterize(mean, logvar), label_probs, n_frames=x.shape[-1])
        return log_power, mean, logvar, class_logits
