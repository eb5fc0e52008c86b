"""Training losses, normalised as in the authors' code: spectral and latent terms are per
element (the KL to the prior per input time-frequency bin), cross-entropies per segment.

Spectrogram tensors are ``[batch, n_freq, frames]``; latents ``[batch, channels, frames']``.
"""

import math

import torch
import torch.nn.functional as F

from ..networks.cvae import CLASS_PROB_FLOOR


def gaussian_nll(magnitude, log_power):
    """Complex Gaussian NLL of ``magnitude`` with variance ``exp(log_power)``, mean per bin,
    without the log(pi) constant: ``-log N_c(s; 0, v) = log(pi) + log(v) + |s|^2 / v``."""
    return (log_power + magnitude.pow(2) * torch.exp(-log_power)).mean()


def kl_standard_normal(mean, logvar, n_bins=None):
    """``KL(N(mean, exp(logvar)) || N(0, I))`` summed, divided by ``n_bins`` (the number of input
    time-frequency bins of the batch; default: the number of latent elements)."""
    total = (0.5 * (mean.pow(2) + logvar.exp() - logvar - 1.0)).sum()
    return total / (mean.numel() if n_bins is None else n_bins)


def kl_diagonal_gaussians(mean_p, logvar_p, mean_q, logvar_q):
    """``KL(N(mean_p, exp(logvar_p)) || N(mean_q, exp(logvar_q)))``, mean per latent element."""
    ratio = (logvar_p.exp() + (mean_p - mean_q).pow(2)) * torch.exp(-logvar_q)
    return (0.5 * (logvar_q - logvar_p + ratio - 1.0)).mean()


def itakura_saito(log_power_ref, log_power_est):
    """Itakura-Saito divergence ``P_ref/P_est - log(P_ref/P_est) - 1``, mean per bin."""
    log_ratio = log_power_ref - log_power_est
    return (log_ratio.exp() - log_ratio - 1.0).mean()


def product_classifier_ce(log_scores, labels):
    """Cross-entropy ``-log score[label]`` of ACVAE classifier log-scores ``[batch, L]`` (clamped at log 1e-35)."""
    picked = log_scores.gather(1, labels.view(-1, 1)).squeeze(1)
    return -picked.clamp(min=math.log(CLASS_PROB_FLOOR)).mean()


def softmax_ce(logits, labels):
    """Usual cross-entropy of class ``logits [batch, L]`` against integer ``labels [batch]``."""
    return F.cross_entropy(logits, labels)
