"""Unsupervised separation with a variational autoencoder (VAE-BSS; Neri, Badeau, Depalle,
EUSIPCO 2021), single channel, trained on mixtures only.

The encoder maps a mixture magnitude segment (``n_freq x frames``, scaled to [0, 1] by its
peak) to ``K`` Gaussian latents, one per source; one shared decoder generates each source's
magnitude segment from its latent. Training maximises the likelihood of the mixture given the
sum of the decoded sources (a Gaussian: squared error) minus ``beta`` times the KL divergence
to N(0, I), which pushes the K latents apart. At separation (VAEM, on by default) the decoded
magnitudes become masks that sum to one, ``s_k = s^_k * x / sum_j s^_j``, applied to the
mixture STFT; ``vaem=False`` gives the decoder's magnitudes with the mixture phase.
"""

import torch
from asteroid.engine import System

from ..models.base import SafeLoadingModel
from .pit import sized

#: Sizes: "paper" is the slides' (hidden 2560-2048-1536-1024-512, latent 64 per source, 256 x 128
#: segments at 5.5 kHz); "cpu" trains on 2 CPU cores in minutes.
SIZES = {
    "tiny": dict(hidden=(128,), latent=8, frames=16),
    "cpu": dict(hidden=(1024, 512), latent=32, frames=32),
    "paper": dict(hidden=(2560, 2048, 1536, 1024, 512), latent=64, frames=128),
}


def _mlp(sizes, last_activation=None):
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    if last_activation is not None:
        layers.append(last_activation)
    return torch.nn.Sequential(*layers)


class VAEBSS(SafeLoadingModel):
    """VAE-BSS separator: ``forward_wav([batch, 1 | mics, time]) -> [batch, n_src, time]``
    (multichannel input: the reference microphone ``ref_mic``).

    Args:
        n_src: sources ``K`` (latents per mixture; may exceed the true number of sources).
        n_fft, hop_length: STFT (Hann); the network sees ``n_fft // 2`` bins (Nyquist dropped).
        frames: frames per segment. hidden: encoder widths (the decoder mirrors them).
        latent: latent dimension per source. beta: weight of the KL term.
        vaem: VAEM masking at separation (else the decoded magnitudes, mixture phase).

    References:
        [1] J. Neri, R. Badeau, P. Depalle, "Unsupervised blind source separation with variational
            auto-encoders", in Proc. EUSIPCO, 2021.
    """

    single_channel = True

    def __init__(
        self,
        n_src=2,
        n_fft=512,
        hop_length=256,
        frames=32,
        hidden=(1024, 512),
        latent=32,
        beta=1.0,
        vaem=True,
        ref_mic=0,
        sample_rate=16000,
    ):
        super().__init__(sample_rate=sample_rate, in_channels=None)
        self.n_src, self.n_fft, self.hop_length, self.frames = int(n_src), int(n_fft), int(hop_length), int(frames)
        self.hidden, self.latent, self.beta = tuple(int(h) for h in hidden), int(latent), float(beta)
        self.vaem, self.ref_mic = bool(vaem), int(ref_mic)
        self.n_freq = self.n_fft // 2
        size = self.n_freq * self.frames
        self.encoder = _mlp((size, *self.hidden, 2 * self.latent * self.n_src))
        self.decoder = _mlp((self.latent, *reversed(self.hidden), size), torch.nn.Softplus())
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)

    # ----- spectrogram segments -------------------------------------------------------------
    def stft(self, wav: torch.Tensor) -> torch.Tensor:
        """``[batch, time]`` -> complex ``[batch, n_fft // 2 + 1, frames]``."""
        return torch.stft(wav, self.n_fft, self.hop_length, window=self.window, return_complex=True)

    def segments(self, magnitude: torch.Tensor):
        """``[batch, n_freq, T]`` -> (segments ``[batch * S, n_freq * frames]`` scaled to peak 1,
        their peaks ``[batch * S, 1]``, S); T is zero-padded to a multiple of ``frames``."""
        batch, n_freq, T = magnitude.shape
        n_seg = -(-T // self.frames)
        padded = torch.nn.functional.pad(magnitude, (0, n_seg * self.frames - T))
        seg = padded.reshape(batch, n_freq, n_seg, self.frames).permute(0, 2, 1, 3).reshape(batch * n_seg, -1)
        peak = seg.amax(dim=1, keepdim=True).clamp_min(1e-8)
        return seg / peak, peak, n_seg

    def unsegment(self, seg: torch.Tensor, batch: int, n_seg: int, T: int) -> torch.Tensor:
        """Inverse of :meth:`segments` for ``[batch * S, K, n_freq * frames]`` -> ``[batch, K, n_freq, T]``."""
        K = seg.shape[1]
        out = seg.reshape(batch, n_seg, K, self.n_freq, self.frames).permute(0, 2, 3, 1, 4)
        return out.reshape(batch, K, self.n_freq, n_seg * self.frames)[..., :T]

    # ----- the VAE --------------------------------------------------------------------------
    def encode(self, seg: torch.Tensor):
        """``[n, n_freq * frames]`` -> (mean, logvar), each ``[n, K, latent]``."""
        stats = self.encoder(seg).reshape(-1, self.n_src, 2, self.latent)
        return stats[:, :, 0], stats[:, :, 1].clamp(-20, 10)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``[n, K, latent]`` -> source segments ``[n, K, n_freq * frames]`` (non-negative)."""
        return self.decoder(z)

    def segment_loss(self, seg: torch.Tensor) -> torch.Tensor:
        """Mean over segments of the squared error of the mixture against the sum of the decoded
        sources (per bin) plus ``beta`` times the KL divergence (per bin)."""
        mean, logvar = self.encode(seg)
        z = mean + torch.randn_like(mean) * (0.5 * logvar).exp() if self.training else mean
        sources = self.decode(z)
        error = (seg - sources.sum(dim=1)).pow(2).mean()
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).sum(dim=(1, 2)).mean() / seg.shape[1]
        return error + self.beta * kl

    def _mono(self, wav: torch.Tensor) -> torch.Tensor:
        if wav.dim() == 3:
            return wav[:, self.ref_mic] if wav.shape[1] > self.ref_mic else wav[:, 0]
        return wav if wav.dim() == 2 else wav[None]

    def loss(self, mixture: torch.Tensor) -> torch.Tensor:
        """Training loss of mixture waveforms ``[batch, time]`` (no sources needed)."""
        magnitude = self.stft(self._mono(mixture)).abs()[:, : self.n_freq]
        seg, _, _ = self.segments(magnitude)
        return self.segment_loss(seg)

    def source_magnitudes(self, magnitude: torch.Tensor) -> torch.Tensor:
        """Mixture magnitudes ``[batch, n_freq, T]`` -> decoded source magnitudes ``[batch, K, n_freq, T]``
        (latent means, each segment at its mixture scale)."""
        seg, peak, n_seg = self.segments(magnitude)
        mean, _ = self.encode(seg)
        sources = self.decode(mean) * peak[:, None]
        return self.unsegment(sources, magnitude.shape[0], n_seg, magnitude.shape[-1])

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        """``[time]``, ``[batch, time]`` or ``[batch, channels, time]`` -> ``[batch, n_src, time]``."""
        mono = self._mono(wav)
        spec = self.stft(mono)  # [batch, n_freq + 1, T]
        sources = self.source_magnitudes(spec.abs()[:, : self.n_freq])
        sources = torch.cat([sources, sources[:, :, -1:]], dim=2)  # the Nyquist bin as its neighbour
        if self.vaem:  # masks summing to one: the estimates sum to the mixture
            est_spec = sources / sources.sum(dim=1, keepdim=True).clamp_min(1e-12) * spec[:, None]
        else:
            est_spec = sources * torch.exp(1j * spec.angle())[:, None]
        batch = spec.shape[0]
        est = torch.istft(
            est_spec.reshape(batch * self.n_src, *spec.shape[1:]),
            self.n_fft,
            self.hop_length,
            window=self.window,
            length=mono.shape[-1],
        )
        return est.reshape(batch, self.n_src, -1)

    def get_model_args(self):
        return dict(
            n_src=self.n_src,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            frames=self.frames,
            hidden=list(self.hidden),
            latent=self.latent,
            beta=self.beta,
            vaem=self.vaem,
            ref_mic=self.ref_mic,
            sample_rate=self.sample_rate,
        )


def build_vaebss(n_src: int = 2, sample_rate: int = 16000, size: str = "cpu", **overrides) -> VAEBSS:
    """A fresh :class:`VAEBSS` of size ``tiny`` / ``cpu`` / ``paper``."""
    return VAEBSS(n_src=n_src, sample_rate=sample_rate, **sized("vaebss", SIZES, size, overrides))


class VAEBSSSystem(System):
    """asteroid ``System`` training :class:`VAEBSS` on mixtures only (the batches' references,
    if any, stay unused)."""

    def common_step(self, batch, batch_nb, train=True):
        mixture = batch[0] if isinstance(batch, (list, tuple)) else batch
        return self.model.loss(mixture)
