"""Stage 2 of encoder re-training: the loss, the dropout hooks and the asteroid ``System``.

The encoder is trained as a plain autoencoder through the frozen decoder: ``z = mean`` (no
sampling), class posterior ``softmax(class_logits)``, ``h = decode(z, posterior)`` and the
loss is the Itakura-Saito divergence of the target power ``p`` from the variance
``g * exp(h)`` at the closed-form scale ``g = mean(p / e^h)`` (the separation loop's
formula, :func:`asteroid_mvae.separation.deep.fit_scale`), averaged over samples.
"""

from typing import Optional

import torch
import torch.nn.functional as F
from asteroid.engine.system import System

from ..networks.layers import SiLUConv1d

#: floor of the target power (relative to unit mean power) so that ``log p`` is finite
POWER_FLOOR = 1e-8


def scaled_is_divergence(power: torch.Tensor, log_power: torch.Tensor) -> torch.Tensor:
    """Per-sample ``D_IS(p | g e^h)`` with ``g = mean(p / e^h)``: ``[batch, F, T]`` x2 -> ``[batch]``.

    ``D_IS = mean_{f,t}(p / (g e^h) - log(p / (g e^h)) - 1)``; ``p`` is clamped at ``POWER_FLOOR``.
    """
    power = power.clamp_min(POWER_FLOOR)
    ratio = power * torch.exp(-log_power)
    gain = ratio.mean((1, 2), keepdim=True)
    scaled = ratio / gain
    return (scaled - torch.log(scaled) - 1).mean((1, 2))


def autoencode(network, x: torch.Tensor) -> torch.Tensor:
    """ChimeraACVAE as a plain autoencoder: ``x [batch, F, T]`` -> log power ``[batch, F, T]``."""
    mean, _, class_logits = network.encode(x)
    return network.decode(mean, torch.softmax(class_logits, dim=-1), n_frames=x.shape[-1])


def add_encoder_dropout(network, p: float):
    """Dropout (rate ``p``, active in training mode only) after every normalisation layer of
    the encoder's ``SiLUConv1d`` blocks, through forward hooks; returns the hook handles
    (``handle.remove()`` restores the network). Parameters are unchanged."""
    handles = []
    if p <= 0:
        return handles
    for module in network.encoder.modules():
        if isinstance(module, SiLUConv1d):
            norm = module.norm
            handles.append(
                norm.register_forward_hook(lambda mod, args, output: F.dropout(output, p, training=mod.training))
            )
    return handles


class EncoderRetrainingSystem(System):
    """Re-trains ``model.encoder`` of a ChimeraACVAE; the decoder is frozen (no gradient, not
    optimised, kept in eval mode). Batches are ``(x, target_power, weight)``; the loss is the
    ``weight``-weighted mean of :func:`scaled_is_divergence`.
    """

    def __init__(self, model, optimizer, train_loader, val_loader=None, scheduler=None, config=None):
        super().__init__(model, optimizer, None, train_loader, val_loader, scheduler, config)
        model.decoder.requires_grad_(False)

    def train(self, mode: bool = True):
        super().train(mode)
        self.model.decoder.eval()
        return self

    def on_train_start(self):
        # Lightning 2.x keeps the modes it is given; the network arrives in eval mode (loaded
        # from its package), which would silence the encoder's dropout: switch to training.
        self.train()

    def common_step(self, batch, batch_nb, train=True):
        x, target, weight = batch
        divergence = scaled_is_divergence(target, autoencode(self.model, x))
        return (weight * divergence).sum() / weight.sum()


def mean_validation_loss(network, loader) -> Optional[float]:
    """Weighted mean IS loss of ``network`` (eval mode, no dropout) over ``loader``."""
    if loader is None:
        return None
    was_training = network.training
    network.eval()
    total = weights = 0.0
    with torch.no_grad():
        for x, target, weight in loader:
            x, target, weight = x.to(_device(network)), target.to(_device(network)), weight.to(_device(network))
            divergence = scaled_is_divergence(target, autoencode(network, x))
            total += float((weight * divergence).sum())
            weights += float(weight.sum())
    network.train(was_training)
    return total / max(weights, 1e-30)


def _device(module):
    return next(module.parameters()).device
