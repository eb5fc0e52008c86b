"""Training losses. Every loss is summed over one segment's elements and averaged over the batch.

Spectrogram tensors are ``[batch, n_freq, frames]``; latents ``[batch, channels, frames']``.
"""
import math

import torch
import torch.nn.functional as F

from ..networks.cvae import CLASS_PROB_FLOOR


def _batch_mean_of_sums(values):
    return values.flatten(1).sum(dim=1).mean()


def gaussian_nll(magnitude, log_power):
    """Complex Gaussian NLL of ``magnitude`` with variance ``exp(log_power)`` (without the log(pi) constant).

    ``-log N_c(s; 0, v) = log(pi) + log(v) + |s|^2 / v``.
    """
    return _batch_mean_of_sums(log_power + magnitude.pow(2) * torch.exp(-log_power))


def kl_standard_normal(mean, logvar):
    """``KL(N(mean, exp(logvar)) || N(0, I))``."""
    return _batch_mean_of_sums(0.5 * (mean.pow(2) + logvar.exp() - logvar - 1.0))


def kl_diagonal_gaussians(mean_p, logvar_p, mean_q, logvar_q):
    """``KL(N(mean_p, exp(logvar_p)) || N(mean_q, exp(logvar_q)))`` for diagonal Gaussians."""
    ratio = (logvar_p.exp() + (mean_p - mean_q).pow(2)) * torch.exp(-logvar_q)
    return _batch_mean_of_sums(0.5 * (logvar_q - logvar_p + ratio - 1.0))


def itakura_saito(log_power_ref, log_power_est):
    """Itakura-Saito divergence ``D_IS(P_ref | P_est) = sum(P_ref/P_est - log(P_ref/P_est) - 1)``."""
    log_ratio = log_power_ref - log_power_est
    return _batch_mean_of_sums(log_ratio.exp() - log_ratio - 1.0)


def product_classifier_ce(log_scores, labels):
    """Cross-entropy ``-log score[label]`` of ACVAE classifier log-scores ``[batch, L]`` (clamped at log 1e-35)."""
    picked = log_scores.gather(1, labels.view(-1, 1)).squeeze(1)
    return -picked.clamp(min=math.log(CLASS_PROB_FLOOR)).mean()


def softmax_ce(logits, labels):
    """Usual cross-entropy of class ``logits [batch, L]`` against integer ``labels [batch]``."""
    return F.cross_entropy(logits, labels)
