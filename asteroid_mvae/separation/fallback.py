"""A blind check that a refinement did not merge sources: the outputs' envelope correlation.

Separated talkers speak and pause independently, so the logarithms of their outputs' broadband
powers over time (their envelopes) are weakly correlated; when a separation collapses, two
outputs follow the same talker (or the same mixture) and their envelopes rise and fall together.
:func:`envelope_correlation` scores a separation by the mean correlation over pairs of outputs of

``e_nt = log(sum_{f > 0} |s_nft|^2)``  (a floor of 1e-8 of each output's mean keeps silence finite).

The deep separators' ``fallback="envelope"`` (:class:`~asteroid_mvae.models.mvae.DeepSeparator`)
keeps the outputs of their ILRMA start instead of the deep iterations' where the start's
envelopes are less correlated. The statistic was chosen among eight candidates (log or linear
powers, per-frequency or broadband envelopes, whole log spectrograms, J with a refitted NMF) on 8
training-sentence mixtures per N of two zoos (``egs/vcc2018/local/zoo_fallback_choice.py``), and
only then measured on the test mixtures: ``egs/vcc2018/results/zoo_fallback``.
"""

import torch

from . import spatial
from .engine import SeparationResult


def envelope_correlation(S: torch.Tensor, floor: float = 1e-8) -> torch.Tensor:
    """Mean pairwise correlation of the outputs' log broadband envelopes (module docstring).

    Args:
        S: separated outputs ``[batch, src, freq, frames]`` complex (any scale per output: the
            correlation is scale invariant); bin 0 (DC) is left out.
        floor: relative floor of the envelopes (of each output's mean over frames).
    Returns:
        ``[batch]`` float64 in ``[-1, 1]``; NaN for a single output.
    """
    if S.dim() != 4:
        raise ValueError(f"S must be [batch, src, freq, frames]; got {tuple(S.shape)}.")
    envelope = spatial.power(S[:, :, 1:]).sum(2).to(torch.float64)  # [B, N, T]
    level = envelope.mean(-1, keepdim=True).clamp_min(1e-300)  # per output: scale invariant
    e = torch.log(envelope.clamp_min(0) + floor * level)
    e = e - e.mean(-1, keepdim=True)
    e = e / e.norm(dim=-1, keepdim=True).clamp_min(1e-300)
    c = e @ e.transpose(-1, -2)  # [B, N, N]
    n = S.shape[1]
    if n < 2:
        return torch.full(S.shape[:1], float("nan"), dtype=torch.float64, device=S.device)
    off_diagonal = c.sum((-1, -2)) - torch.diagonal(c, dim1=-2, dim2=-1).sum(-1)
    return off_diagonal / (n * (n - 1))


def keep_start(final: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
    """``[batch]`` bool: where the start's outputs ``start`` are less envelope-correlated than the
    refined ``final`` (both ``[batch, src, freq, frames]``), i.e. where to keep the start."""
    return envelope_correlation(start) < envelope_correlation(final)


def keep_start_where_better(result: SeparationResult, start: SeparationResult) -> SeparationResult:
    """``result`` with the ``start``'s estimates and demixing matrices in place of its own for the
    mixtures where :func:`keep_start` says so, and ``kept_start`` ``[batch]`` saying where."""
    estimates = start.estimates.to(result.estimates.dtype)
    keep = keep_start(result.estimates, estimates)
    result.kept_start = keep
    if bool(keep.any()):
        where = keep[:, None, None, None]
        result.estimates = torch.where(where, estimates, result.estimates)
        result.demix = torch.where(where, start.demix.to(result.demix.dtype), result.demix)
    return result
