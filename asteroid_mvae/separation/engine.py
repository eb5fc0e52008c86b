"""The separation engine: alternate a source-model update and a spatial (IP) update.

One call separates a batch of determined mixtures (``N = M``) on the device of its input.
Each iteration:

1. the source model turns the current output power into variances ``r``,
2. one spatial sweep (IP1 by default, IP2 or ISS) updates the demixing matrices,
3. each output is normalised to unit power (and ``r`` with it), when the model allows,
4. the objective ``J = -2T sum_f log|det W_f| + sum_{f,t,n} (log r + |y|^2 / r)`` is
   recorded (models with another contrast, e.g. Laplace, supply their own source part).

At the end the outputs are projected back to a reference microphone.

With more microphones than sources (``n_src < M``) the spatial update is OverIVA's
(:mod:`.overiva`, Scheibler and Ono 2019): ``N`` source rows by IP with the source model's
variances and ``M - N`` background rows at the optimum the orthogonality constraint gives, so
every source model uses every microphone; ``J`` then includes the background's part.
"""

import functools
from dataclasses import dataclass
from typing import Callable, Optional

import torch

from . import overiva, spatial
from .source_models import SourceModel
from .threads import load_adapted_threads

UPDATES = ("ip1", "ip2", "iss")


@dataclass
class IterationState:
    """What a callback sees after each iteration (index 0 is the initial state)."""

    iteration: int
    outputs: torch.Tensor  #: ``[batch, src, freq, frames]``, unit-power scale
    demix: torch.Tensor  #: ``[batch, freq, src, mics]``, for the input's scale
    objective: torch.Tensor  #: ``[batch]``
    _mix: torch.Tensor
    _background: Optional[torch.Tensor] = None  #: OverIVA's background rows ``[batch, freq, M - N, mics]``

    def estimates(self, ref_mic: int = 0) -> torch.Tensor:
        """Current outputs projected back to ``ref_mic``: ``[batch, src, freq, frames]``."""
        if self._background is not None:
            full = torch.cat([self.demix, self._background], dim=-2)
            G = spatial.projection_back(full, full, ref_mic)[..., : self.demix.shape[-2], :]
            return (G @ self._mix).transpose(1, 2)
        Y = self.demix @ self._mix
        return spatial.projection_back(Y, self.demix, ref_mic).transpose(1, 2)


@dataclass
class SeparationResult:
    estimates: torch.Tensor  #: ``[batch, src, freq, frames]`` complex
    demix: torch.Tensor  #: ``[batch, freq, src, mics]``, applies to the input mixture
    objective: (
        torch.Tensor
    )  #: ``[n_iter + 1, batch]``: J before the first and after each iteration (NaN where not tracked)
    kept_start: Optional[torch.Tensor] = None  #: ``[batch]`` bool: where a separator's fallback kept its start


def default_diag_load(dtype: torch.dtype) -> float:
    return 1e-12 if dtype == torch.complex128 else 1e-6


def with_load_adapted_threads(fn):
    """Run ``fn(mix, ...)`` with torch's CPU threads lowered to the cores other processes leave free
    (:func:`~asteroid_mvae.separation.threads.load_adapted_threads`)."""

    @functools.wraps(fn)
    def wrapper(mix, *args, **kwargs):
        with load_adapted_threads(mix.device):
            return fn(mix, *args, **kwargs)

    return wrapper


@with_load_adapted_threads
def separate(
    mix: torch.Tensor,
    source_model: SourceModel,
    n_iter: int = 60,
    update: str = "ip1",
    proj_back: bool = True,
    ref_mic: int = 0,
    W0: Optional[torch.Tensor] = None,
    normalize: Optional[bool] = None,
    callback: Optional[Callable[[IterationState], None]] = None,
    dtype: Optional[torch.dtype] = None,
    diag_load: Optional[float] = None,
    var_floor: float = 1e-10,
    ip_sweeps: int = 1,
    block_frames: Optional[int] = None,
    overwrite_mix: bool = False,
    track_objective: bool = True,
    n_src: Optional[int] = None,
) -> SeparationResult:
    """Separate determined or overdetermined mixtures with a pluggable source model.

    Args:
        mix: mixture STFT ``[batch, mics, freq, frames]`` complex.
        n_src: sources ``N`` (``None``: as many as microphones); ``N < M``: OverIVA's update
            (:mod:`.overiva`; ``update`` ``"ip1"`` or ``"ip2"``), every microphone used.
        source_model: a fresh :class:`SourceModel` (it keeps state during the call).
        n_iter: number of iterations.
        update: spatial update, ``"ip1"`` (row by row), ``"ip2"`` (pairwise) or ``"iss"``.
        proj_back: rescale the outputs to their image at ``ref_mic``.
        W0: initial demixing ``[batch, freq, src, mics]`` (``None``: the identity; for ``N < M`` the
            ``N`` principal axes of each frequency's mixture covariance, :func:`.overiva.principal_rows`).
        normalize: normalise each output to unit power every iteration; by default
            whenever the source model's objective is scale invariant.
        callback: called with an :class:`IterationState` after every iteration.
        dtype: ``torch.complex64`` (default) or ``torch.complex128``.
        diag_load: relative diagonal loading of ``V`` (default 1e-6, 1e-12 in float64).
        var_floor: floor of the variances, relative to the mixture's mean power.
        ip_sweeps: spatial sweeps per iteration with the same variances (the re-training
            authors' scripts run 2).
        block_frames: frames per block of the covariance and output-power passes (``None``:
            automatic, see :class:`~asteroid_mvae.separation.spatial.MixtureFrames`); blocks keep
            the memory of long recordings at a few times the STFT's.
        overwrite_mix: the engine may scale ``mix`` in place and write the estimates into it
            (when ``mix`` is contiguous and has the working dtype): no copy of the STFT, for long recordings; the
            returned ``estimates`` are then ``mix`` itself.
        track_objective: compute ``J`` after every iteration (``False``: before the first and after
            the last only, NaN between; the separation is the same; J's logarithms are a sizable share
            of ILRMA's CPU time: ``benchmarks/results/bench_ip``).

    Returns:
        :class:`SeparationResult`; ``estimates`` are ``[batch, src, freq, frames]``.
    """
    if update not in UPDATES:
        raise ValueError(f"update must be one of {UPDATES}; got {update!r}.")
    if ip_sweeps < 1:
        raise ValueError(f"ip_sweeps must be at least 1; got {ip_sweeps}.")
    if mix.dim() != 4 or not mix.is_complex():
        raise ValueError(f"mix must be complex [batch, mics, freq, frames]; got {tuple(mix.shape)} {mix.dtype}.")
    dtype = dtype or (mix.dtype if mix.dtype == torch.complex128 else torch.complex64)
    B, M, F, T = mix.shape
    if not 0 <= ref_mic < M:
        raise ValueError(f"ref_mic={ref_mic} but the mixture has {M} microphones.")
    N = M if n_src is None else n_src
    if isinstance(N, bool) or not isinstance(N, int) or not 1 <= N <= M:
        raise ValueError(f"n_src must be an integer in [1, {M}] (the microphones); got {n_src!r}.")
    over = N < M
    if over and update not in overiva.SWEEPS:
        raise ValueError(
            f"update {update!r} needs as many microphones as sources; with {M} microphones for {N} "
            f"sources use {' or '.join(overiva.SWEEPS)} (OverIVA), or reduce the microphones first."
        )
    if W0 is not None and tuple(W0.shape) != (B, F, N, M):
        raise ValueError(f"W0 must be [batch, freq, src, mics] = {[B, F, N, M]}; got {list(W0.shape)}.")
    normalize = source_model.scale_invariant if normalize is None else normalize
    diag_load = default_diag_load(dtype) if diag_load is None else diag_load

    # Work on the mixture scaled to unit mean power; J and W are reported for the input.
    in_place = overwrite_mix and mix.dtype == dtype and mix.is_contiguous()  # (else the view is slow to read)
    if in_place:
        X = mix.transpose(1, 2)  # a view, scaled in place; the estimates are written into it at the end
    else:
        X = torch.empty(B, F, M, T, dtype=dtype, device=mix.device).copy_(
            mix.transpose(1, 2)
        )  # own copy: scaled in place
    # mean over frames first: torch splits a reduction to one value per mixture across threads
    # (its rounding then depends on the thread count), a reduction to many values it does not
    scale = spatial.power(X).mean(-1).mean((1, 2)).clamp_min(1e-30).sqrt()  # [B]
    X.div_(scale[:, None, None, None])
    J_offset = 2 * T * F * M * torch.log(scale.real.to(torch.float64))
    frames = spatial.MixtureFrames(X, block_frames)
    mix_cov = frames.covariances(torch.ones_like(X[:, None, :1, 0].real))[:, :, 0]  # [B, F, M, M]
    if over:  # OverIVA's background from the loaded covariance (finite on silent bins), J with it
        back_cov = frames.covariances(torch.ones_like(X[:, None, :1, 0].real), diag_load, floor=1e-20)[:, :, 0]

    if W0 is None and over:
        W = overiva.principal_rows(mix_cov, N)
    elif W0 is None:
        W = torch.eye(M, dtype=dtype, device=X.device).expand(B, F, M, M).clone()
    else:
        W = W0.to(dtype) * scale[:, None, None, None]
    Y = W @ X if update == "iss" else None  # IP updates only need |Y|^2, from W and xx

    def current_power(W, Y):
        if update == "iss":
            power = spatial.source_power(Y)
            return power.sum(2, keepdim=True) if source_model.pooled else power
        return frames.pooled_output_power(W) if source_model.pooled else frames.output_power(W)

    def objective(power, W, r):
        source_part = source_model.nll(power, r).to(torch.float64)
        if over:  # the background's part at its optimum (overiva's module docstring)
            return -2 * T * overiva.overdetermined_log_det(W, back_cov) + T * F * (M - N) + source_part + J_offset
        return -2 * T * spatial.log_abs_det(W).to(torch.float64) + source_part + J_offset

    def report(it, W, J):
        if callback is not None:
            Y = W @ X
            background = overiva.background_rows(W, back_cov) / scale[:, None, None, None] if over else None
            callback(
                IterationState(
                    it, Y.transpose(1, 2), W / scale[:, None, None, None], J, X * scale[:, None, None, None], background
                )
            )

    power = current_power(W, Y)
    source_model.reset(power)
    r = source_model.update(power).clamp_min(var_floor)
    history = [objective(power, W, r)]
    report(0, W, history[0])
    for it in range(1, n_iter + 1):
        if it > 1:
            r = source_model.update(power).clamp_min(var_floor)
        weights = torch.reciprocal(r)  # [B, N, F or 1, T]
        power = None  # not needed until recomputed: long recordings hold one copy, not two
        if update == "iss":
            for _ in range(ip_sweeps):
                W, Y = spatial.iss_sweep(W, Y, weights.transpose(1, 2))
        elif over:  # OverIVA: the source rows, the background at its optimum
            V = frames.covariances(weights, diag_load, floor=1e-20)
            for _ in range(ip_sweeps):
                W = overiva.SWEEPS[update](W, V, back_cov)
        else:  # V depends on the variances only: one for all sweeps
            V = frames.covariances(weights, diag_load, floor=1e-20)
            for _ in range(ip_sweeps):
                W = (spatial.ip1_sweep if update == "ip1" else spatial.ip2_sweep)(W, V)
        if normalize:  # unit output power: mean_{f,t} |y|^2 = mean_f w^H R_f w, no pass over Y
            gain = spatial.output_power(W, mix_cov).clamp_min(1e-30)  # [B, N]
            W = W * gain.rsqrt()[:, None, :, None]
            if update == "iss":
                Y = Y * gain.rsqrt()[:, None, :, None]
            source_model.rescale(1 / gain)
            r = r.div_(gain[:, :, None, None])  # r is the engine's own (from clamp_min)
        power = current_power(W, Y)
        if track_objective or it == n_iter:
            history.append(objective(power, W, r))
        else:
            history.append(torch.full_like(history[0], float("nan")))
        report(it, W, history[-1])

    if Y is None:  # one product per block of frames: projection back folded into the demixing matrices
        if proj_back:
            G = overiva.projection_back(W, back_cov, ref_mic) if over else spatial.projection_back(W, W, ref_mic)
            G = G * scale[:, None, None, None]
        else:
            G = W
        Y = frames.demix(G, out=X[:, :, :N] if in_place else None)
    elif proj_back:
        Y = spatial.projection_back(Y, W, ref_mic) * scale[:, None, None, None]
    W = W / scale[:, None, None, None]
    return SeparationResult(Y.transpose(1, 2), W, torch.stack(history))
