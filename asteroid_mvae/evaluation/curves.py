"""Per-iteration tracking of iterative separators: SI-SDR improvement and objective ``J``.

An :class:`IterationTracker` is passed as ``callback`` to ``separate`` (or to a model's
``forward_wav(wav, callback=...)``). After every iteration it inverts the current
projected-back estimates, solves the permutation and records the mean SI-SDR improvement
and ``J``. Its own run time is kept in :attr:`IterationTracker.overhead_s` so that the
evaluation can subtract it from the separator's processing time.
"""

import time
from typing import List, Optional, Sequence

import numpy as np
import torch

from ..separation import StftConfig, istft
from .metrics import pairwise_si_sdr, si_sdr_improvement

DEFAULT_REL_TOL = 1e-7


class IterationTracker:
    """Callback recording SI-SDR improvement and ``J`` for one mixture (batch of one).

    Args:
        mixture: reference-microphone mixture ``[time]``.
        references: source images at that microphone ``[src, time]``.
        stft_config: the STFT the separator works with (to invert its estimates).
        ref_mic: microphone the estimates are projected back to.
    """

    def __init__(self, mixture, references, stft_config: StftConfig = StftConfig(), ref_mic: int = 0):
        self.mixture = np.asarray(mixture, dtype=np.float64)
        self.references = np.asarray(references, dtype=np.float64)
        self.stft_config = stft_config
        self.ref_mic = ref_mic
        self.iterations: List[int] = []
        self.si_sdr_imp: List[float] = []
        self.objective: List[Optional[float]] = []
        self.overhead_s = 0.0
        self._input_si_sdr = np.diag(
            pairwise_si_sdr(np.broadcast_to(self.mixture, self.references.shape), self.references)
        )

    def __call__(self, state) -> None:
        start = time.perf_counter()
        spec = state.estimates(self.ref_mic)[0]  # [src, freq, frames]
        wav = istft(spec, self.references.shape[-1], self.stft_config).detach().cpu().numpy()
        imp = si_sdr_improvement(self.mixture, self.references, wav)
        objective = getattr(state, "objective", None)
        self.iterations.append(int(state.iteration))
        self.si_sdr_imp.append(float(imp.mean()))
        self.objective.append(None if objective is None else float(torch.as_tensor(objective).reshape(-1)[0]))
        self.overhead_s += time.perf_counter() - start

    def curve(self) -> dict:
        """Plain-JSON record: ``iterations``, ``si_sdr_imp``, ``objective``, ``j_increase_fraction``."""
        return {
            "iterations": list(self.iterations),
            "si_sdr_imp": list(self.si_sdr_imp),
            "objective": list(self.objective),
            "j_increase_fraction": j_increase_fraction(self.objective),
        }


def j_increase_fraction(objective: Sequence[Optional[float]], rel_tol: float = DEFAULT_REL_TOL) -> Optional[float]:
    """Share of iterations ``i >= 1`` where ``J_i > J_{i-1}`` beyond ``rel_tol * |J_{i-1}|``.

    Returns ``None`` when fewer than two objective values are known.
    """
    values = [v for v in objective if v is not None]
    if len(values) < 2:
        return None
    J = np.asarray(values, dtype=np.float64)
    rises = J[1:] - J[:-1] > rel_tol * np.maximum(np.abs(J[:-1]), 1e-300)
    return float(rises.mean())


def normalized_objective(objective: Sequence[Optional[float]]) -> Optional[np.ndarray]:
    """``J`` rescaled per mixture to ``(J - min J) / (J_0 - min J)``: 1 at the start, 0 at the best.

    Different methods have different ``J`` offsets; this makes their convergence comparable.
    """
    values = [v for v in objective if v is not None]
    if len(values) < 2:
        return None
    J = np.asarray(values, dtype=np.float64)
    span = J[0] - J.min()
    return (J - J.min()) / span if span > 0 else np.zeros_like(J)
