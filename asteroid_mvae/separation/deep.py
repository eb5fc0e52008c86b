"""Deep generative source models for the engine (MVAE, FastMVAE, FastMVAE2).

A network models the log power of a source's spectrogram without its DC bin
(``n_freq = n_fft / 2`` channels). For each output ``n`` the variance is
``r_n = g_n * exp(decoder(z_n, c_n))``, where the scale ``g_n = mean_{f,t} |y_n|^2 / exp(...)``
is its closed-form maximum-likelihood value; the DC bin takes the variance of bin 1.
The networks see each output's magnitude divided by its root-mean-square, in eval mode, and
their latent means (never samples).

- :class:`ChimeraSource` (FastMVAE2): encoder -> latent mean and class posterior -> decoder.
- :class:`ACVAESource` (FastMVAE): classifier -> label posterior; encoder(|y|, label) -> z -> decoder.
- :class:`CVAESource` (MVAE): latent and label logits kept between iterations and optimised by
  backpropagating the objective through the frozen decoder (Adam).

Shapes: ``power [batch, src, freq, frames]`` (``freq = n_freq + 1``); the networks see
``[batch * src, n_freq, frames]``.
"""
import contextlib

import torch

from .source_models import SourceModel

PRECISIONS = ("float32", "bfloat16")


def network_precision(device: torch.device, precision: str):
    """Context for the network passes: plain float32, or bfloat16 autocast (AMX/tensor cores)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}; got {precision!r}.")
    if precision == "float32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def network_input(power: torch.Tensor) -> torch.Tensor:
    """Magnitudes without DC, each output scaled to unit RMS: ``[batch * src, n_freq, frames]``."""
    power = power[:, :, 1:]
    rms = power.mean((2, 3), keepdim=True).clamp_min(1e-30).sqrt()
    return (power.sqrt() / rms).flatten(0, 1)


def with_dc(log_power: torch.Tensor, batch: int) -> torch.Tensor:
    """``[batch * src, n_freq, frames]`` -> ``[batch, src, n_freq + 1, frames]`` (DC copies bin 1)."""
    full = torch.cat([log_power[:, :1], log_power], dim=1)
    return full.unflatten(0, (batch, -1))


def fit_scale(power: torch.Tensor, log_power: torch.Tensor) -> torch.Tensor:
    """Variance ``g * exp(log_power)`` with the ML scale ``g = mean(power / exp(log_power))`` per output."""
    shape = torch.exp(log_power)
    gain = (power / shape).mean((2, 3), keepdim=True)
    return gain * shape


def profile_nll(power: torch.Tensor, log_power: torch.Tensor) -> torch.Tensor:
    """``sum_{f,t} log r + |y|^2 / r`` with the scale at its optimum, summed over everything.

    With ``g`` optimal this is ``FT (log mean(|y|^2 e^{-h}) + 1) + sum h`` per output.
    """
    n_bins = power.shape[2] * power.shape[3]
    ratio = (power * torch.exp(-log_power)).mean((2, 3))
    return (n_bins * (torch.log(ratio) + 1) + log_power.sum((2, 3))).sum()


class NetworkSource(SourceModel):
    """A source model around a network; ``precision`` as in :func:`network_precision`."""

    def __init__(self, network, precision: str = "float32"):
        self.network, self.precision = network, precision

    def variance(self, power, log_power):
        return fit_scale(power, with_dc(log_power.float(), power.shape[0]))


class ChimeraSource(NetworkSource):
    """FastMVAE2: one ChimeraACVAE encoder-decoder pass per iteration."""

    def update(self, power):
        with network_precision(power.device, self.precision):
            mean, _, class_logits = self.network.encode(network_input(power))
            probs = torch.softmax(class_logits.float(), dim=-1)
            log_power = self.network.decode(mean, probs, n_frames=power.shape[-1])
        return self.variance(power, log_power)


class ACVAESource(NetworkSource):
    """FastMVAE: the ACVAE classifier picks the label, its encoder the latent."""

    def update(self, power):
        x = network_input(power)
        with network_precision(power.device, self.precision):
            probs = torch.softmax(self.network.classify_log(x).float(), dim=-1)
            mean, _ = self.network.encode(x, probs)
            log_power = self.network.decode(mean, probs, n_frames=power.shape[-1])
        return self.variance(power, log_power)


class CVAESource(NetworkSource):
    """MVAE: latent ``z`` and label logits optimised through the frozen CVAE decoder.

    Args:
        network: a CVAE (or ACVAE).
        n_steps: Adam steps per iteration.
        lr: Adam learning rate.
        precision: of the decoder passes (the latent and Adam stay in float32).
    The latent starts at the encoder's mean for a uniform label; the Adam state is kept
    between iterations.
    """

    def __init__(self, network, n_steps: int = 100, lr: float = 0.01, precision: str = "float32"):
        super().__init__(network, precision)
        self.n_steps, self.lr = n_steps, lr

    def reset(self, power):
        x = network_input(power)
        n_labels = self.network.n_labels
        self.logits = torch.zeros(x.shape[0], n_labels, dtype=x.dtype, device=x.device)
        mean, _ = self.network.encode(x, torch.softmax(self.logits, -1))
        self.latent = mean.detach().clone()
        self.logits.requires_grad_(True)
        self.latent.requires_grad_(True)
        self.optimizer = torch.optim.Adam([self.latent, self.logits], lr=self.lr)

    def decode(self, n_frames):
        with network_precision(self.latent.device, self.precision):
            log_power = self.network.decode(self.latent, torch.softmax(self.logits, -1), n_frames=n_frames)
        return log_power.float()

    def update(self, power):
        target = power[:, :, 1:].flatten(0, 1)
        with torch.enable_grad():
            for _ in range(self.n_steps):
                self.optimizer.zero_grad(set_to_none=True)
                loss = profile_nll(target[:, None], self.decode(power.shape[-1])[:, None])
                grads = torch.autograd.grad(loss, [self.latent, self.logits])
                self.latent.grad, self.logits.grad = grads
                self.optimizer.step()
        with torch.no_grad():
            log_power = self.decode(power.shape[-1])
        return self.variance(power, log_power)
