"""Frame-wise source priors (Subakan & Smaragdis, "Generative adversarial source separation",
ICASSP 2018): multilayer perceptrons that generate one spectrogram frame from a latent vector.

Conventions (as the other networks of this package, :mod:`asteroid_mvae.networks.cvae`):

- magnitudes ``x [batch, n_freq, frames]`` (DC dropped, scaled by the package's ``input_scale``);
- labels ``[batch, n_labels]`` (one-hot or probabilities). ``per_label=True`` (default, the
  paper's): one MLP per speaker (generator, critic, encoder), held in one module and trained in
  one run, each frame through its speaker's MLPs; ``per_label=False``: one MLP conditioned on
  the one-hot label (concatenated to its input). Shipped per speaker because the conditioned
  variant barely used its label on two built-in speakers: the frame VAE decoded the same
  spectra for either label and gave no separation (the label carries nothing the latent does not).
- latents ``h [batch, latent_dim, frames]``: one independent vector per frame;
- ``decode(h, label) -> log power [batch, n_freq, frames]`` (>= ``LOG_POWER_FLOOR``): the
  generator ``f``; a frame's magnitude is ``exp(log_power / 2)``.

Networks (all with the same generator/decoder MLP, ``hidden`` widths, ReLU):

- :class:`FrameGAN`: generator and critic ``D(log power, label) -> [batch, frames]``, trained
  adversarially (standard or Wasserstein loss, :mod:`asteroid_mvae.training.adversarial`);
- :class:`FrameVAE`: encoder ``(log power, label) -> (mean, logvar)`` and the decoder;
- :class:`FrameDAE`: deterministic encoder and decoder, trained to denoise its input.
"""

import torch
from torch import nn

from .layers import check_label, check_spectrogram

LOG_POWER_FLOOR = -30.0
#: Floor of the power ``x^2`` (scaled domain) before its log, for the critic's and encoders' input.
INPUT_POWER_FLOOR = 1e-6


def mlp(sizes, final_activation=False) -> nn.Sequential:
    """Linear layers of ``sizes`` with ReLU between them (and after the last with ``final_activation``)."""
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if final_activation or i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def frames_first(x: torch.Tensor, label: torch.Tensor):
    """``x [batch, C, frames]`` and ``label [batch, L]`` -> rows ``[batch * frames, C]`` and their
    labels ``[batch * frames, L]``."""
    batch, _, n_frames = x.shape
    rows = x.transpose(1, 2).reshape(batch * n_frames, -1)
    return rows, label.to(rows).repeat_interleave(n_frames, dim=0)


class LabelledMLP(nn.Module):
    """An MLP of ``sizes`` per label (``per_label``), or one MLP with the label concatenated to
    its input: ``rows [N, sizes[0]]``, ``labels [N, L]`` -> ``[N, sizes[-1]]``. Per label, the
    output is the labels' weighted sum of their MLPs (a one-hot row goes through one MLP)."""

    def __init__(self, sizes, n_labels: int, per_label: bool = True):
        super().__init__()
        self.per_label = bool(per_label)
        if self.per_label:
            self.nets = nn.ModuleList(mlp(sizes) for _ in range(n_labels))
        else:
            self.net = mlp((sizes[0] + n_labels, *sizes[1:]))

    def forward(self, rows, labels):
        if not self.per_label:
            return self.net(torch.cat([rows, labels], dim=1))
        out = None
        for index, net in enumerate(self.nets):
            weight = labels[:, index]
            used = torch.nonzero(weight).flatten()
            if used.numel() == 0:
                continue
            part = net(rows[used]) * weight[used, None]
            out = part.new_zeros(rows.shape[0], part.shape[1]) if out is None else out
            out = out.index_add(0, used, part)
        if out is None:
            raise ValueError("every label row is zero: a frame needs a speaker")
        return out


def frames_last(rows: torch.Tensor, batch: int) -> torch.Tensor:
    """``[batch * frames, C]`` -> ``[batch, C, frames]``."""
    return rows.reshape(batch, -1, rows.shape[-1]).transpose(1, 2)


def log_power_of(x: torch.Tensor) -> torch.Tensor:
    """Log power of magnitudes (scaled domain), floored: what critics and encoders see."""
    return torch.log(x.pow(2) + INPUT_POWER_FLOOR)


class FramePrior(nn.Module):
    """What the frame priors share: sizes, the generator (decoder) MLP and its config.

    Args:
        n_labels: speaker labels L. n_freq: bins F (DC dropped). latent_dim: size of ``h``.
        hidden: widths of the hidden layers (the decoder's, first to last).
    """

    network_name = None

    def __init__(
        self, n_labels: int = 1, n_freq: int = 1024, latent_dim: int = 32, hidden=(512, 512), per_label: bool = True
    ):
        super().__init__()
        if n_labels < 1 or n_freq < 1 or latent_dim < 1 or not hidden:
            raise ValueError(
                f"need n_labels, n_freq, latent_dim >= 1 and hidden widths; got "
                f"{n_labels}, {n_freq}, {latent_dim}, {hidden}"
            )
        self.n_labels, self.n_freq, self.latent_dim = int(n_labels), int(n_freq), int(latent_dim)
        self.hidden, self.per_label = tuple(int(h) for h in hidden), bool(per_label)
        self.generator = self.labelled((self.latent_dim, *self.hidden, self.n_freq))

    def labelled(self, sizes) -> LabelledMLP:
        return LabelledMLP(sizes, self.n_labels, self.per_label)

    def decode(self, h: torch.Tensor, label: torch.Tensor, n_frames=None) -> torch.Tensor:
        """``h [batch, latent_dim, T]``, ``label [batch, L]`` -> log power ``[batch, F, T]``."""
        if h.dim() != 3 or h.shape[1] != self.latent_dim:
            raise ValueError(f"latent must be [batch, latent_dim={self.latent_dim}, frames], got {tuple(h.shape)}")
        check_label(label, h.shape[0], self.n_labels)
        out = frames_last(self.generator(*frames_first(h, label)), h.shape[0]).clamp(min=LOG_POWER_FLOOR)
        return out if n_frames is None else out[..., :n_frames]

    def sample_latent(self, batch: int, n_frames: int, generator=None, device=None) -> torch.Tensor:
        """Latents of the prior N(0, I): ``[batch, latent_dim, n_frames]``."""
        return torch.randn(batch, self.latent_dim, n_frames, generator=generator, device=device)

    def get_config(self) -> dict:
        return {
            "n_labels": self.n_labels,
            "n_freq": self.n_freq,
            "latent_dim": self.latent_dim,
            "hidden": list(self.hidden),
            "per_label": self.per_label,
        }

    get_model_args = get_config


class FrameGAN(FramePrior):
    """Generator ``f(h, c)`` and critic ``D(log power, c)`` of GASS (the critic has the generator's
    widths in reverse; its output is a score per frame, higher = more like the training frames)."""

    network_name = "FrameGAN"

    def __init__(
        self, n_labels: int = 1, n_freq: int = 1024, latent_dim: int = 32, hidden=(512, 512), per_label: bool = True
    ):
        super().__init__(n_labels, n_freq, latent_dim, hidden, per_label)
        self.critic_net = self.labelled((self.n_freq, *reversed(self.hidden), 1))

    def critic(self, log_power: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """``log_power [batch, F, T]``, ``label [batch, L]`` -> scores ``[batch, T]``."""
        check_spectrogram(log_power, self.n_freq, "log_power")
        check_label(label, log_power.shape[0], self.n_labels)
        return self.critic_net(*frames_first(log_power, label)).reshape(log_power.shape[0], -1)

    def generator_parameters(self):
        return self.generator.parameters()

    def critic_parameters(self):
        return self.critic_net.parameters()


class FrameVAE(FramePrior):
    """Frame VAE of the paper's baselines: encoder MLP (the decoder's widths in reverse) to a
    Gaussian latent, the decoder as generator."""

    network_name = "FrameVAE"

    def __init__(
        self, n_labels: int = 1, n_freq: int = 1024, latent_dim: int = 32, hidden=(512, 512), per_label: bool = True
    ):
        super().__init__(n_labels, n_freq, latent_dim, hidden, per_label)
        self.encoder = self.labelled((self.n_freq, *reversed(self.hidden), 2 * self.latent_dim))

    def encode(self, x: torch.Tensor, label: torch.Tensor):
        """Magnitudes ``x [batch, F, T]`` -> (mean, logvar) ``[batch, latent_dim, T]``."""
        check_spectrogram(x, self.n_freq)
        check_label(label, x.shape[0], self.n_labels)
        stats = frames_last(self.encoder(*frames_first(log_power_of(x), label)), x.shape[0])
        mean, logvar = stats.chunk(2, dim=1)
        return mean, logvar.clamp(-20.0, 10.0)


class FrameDAE(FrameVAE):
    """Frame denoising autoencoder of the paper's baselines: the encoder's mean is the code (no
    sampling, no KL); trained to rebuild clean frames from noisy ones."""

    network_name = "FrameDAE"


FRAME_PRIORS = {cls.network_name: cls for cls in (FrameGAN, FrameVAE, FrameDAE)}
