"""Joint dereverberation and separation: the engine with a multichannel linear-prediction filter.

Each output is a convolutional beamformer over the current frame and ``taps`` past frames from
``delay`` frames back (the unified demixing-and-prediction filter of ILRMA-T / AuxIVA-T, Ikeshita,
Nakatani et al. 2019; IVA with dereverberation; MVAE with dereverberation, Inoue et al. 2019):

``y_n(t) = w_n^H x(t) + b_n^H xbar(t)``, ``xbar(t) = [x(t - D); ...; x(t - D - L + 1)]`` (``M L``),

or ``y_n = p_n^H z(t)`` with ``z = [x; xbar]`` (``K = M (1 + L)``) and ``p_n = [w_n; b_n]``. The
prediction part ``b_n`` removes what the past frames predict of the current one (the late
reverberation) while ``W = [w_1, ..., w_N]^H`` separates; the objective is the engine's,

``J = -2T sum_f log|det W_f| + sum_n (source part of output n)``

(only the instantaneous part ``W`` enters the determinant; the prediction enters through the
outputs). Any :class:`~asteroid_mvae.separation.source_models.SourceModel` gives the variances,
so every source model plugs in: AuxIVA-T (Laplace), ILRMA-T (NMF), FastMVAE2-T and MVAE-T
(:mod:`.deep`).

Spatial updates, each an exact minimisation of the auxiliary function over one block of
variables (so ``J`` never rises for the majorisation-minimisation source models):

- ``"ip1"`` / ``"ip2"`` (IP form of ILRMA-T): with ``V_n = (1/T) sum_t phi_nt z_t z_t^H =
  [[A, C], [C^H, Q]]``, the best ``b_n`` for a given ``w_n`` is ``-Q^{-1} C^H w_n``, which leaves
  ``w_n^H S_n w_n`` with the Schur complement ``S_n = A - C Q^{-1} C^H``: the engine's IP sweep on
  ``S``, then ``b_n`` from ``w_n``.
- ``"iss"`` (T-ISS, Nakashima, Scheibler, Togami and Ono, ICASSP 2021): rank-1 updates of the
  outputs, first the engine's ISS steps on the sources, then one step per delayed channel
  ``y_n <- y_n - u_n xbar_j`` (no matrix inversion).

At the end the outputs are projected back to ``ref_mic`` with ``W`` (the dereverberated image at
that microphone: ``y_n <- (W^{-1})_{ref, n} y_n``).

References:
    [1] R. Ikeshita, N. Ito, T. Nakatani, H. Sawada, "Independent low-rank matrix analysis with
        decorrelation learning", in Proc. IEEE WASPAA, 2019 (ILRMA-T, the unified filter).
    [2] T. Nakashima, R. Scheibler, M. Togami, N. Ono, "Joint dereverberation and separation with
        iterative source steering", in Proc. IEEE ICASSP, 2021 (T-ISS).
    [3] S. Inoue, H. Kameoka, L. Li, S. Seki, S. Makino, "Joint separation and dereverberation of
        reverberant mixtures with multichannel variational autoencoder", in Proc. IEEE ICASSP, 2019.
    [4] T. Yoshioka, T. Nakatani, "Generalization of multi-channel linear prediction methods for blind
        MIMO impulse response shortening", IEEE Trans. Audio, Speech, Lang. Process., vol. 20, no. 10,
        2012 (the delayed multichannel linear prediction).
"""

from typing import Callable, Optional

import torch

from . import spatial
from .engine import UPDATES, IterationState, SeparationResult, default_diag_load, separate, with_load_adapted_threads
from .source_models import SourceModel

#: defaults for the package's STFT (2048 / 1024 at 16 kHz: 128-ms frames, 64-ms hop): the
#: prediction uses the frames 64 to 192 ms back (torchiva's T-ISS examples also use delay 1, at
#: 50 % and 75 % overlap, with 5 or 10 taps). Chosen on VCC2018 tuning mixtures, not the test ones
#: (egs/vcc2018/results/dereverb/tuning.md); the covariances grow with (M (1 + L))^2.
DEFAULT_DELAY = 1
DEFAULT_TAPS = 3


def check_prediction(taps, delay) -> None:
    """``ValueError`` unless ``taps >= 0`` and ``delay >= 1`` are integers."""
    for name, value, low in (("taps", taps, 0), ("delay", delay, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}; got {value!r}.")


def stack_past(X: torch.Tensor, taps: int, delay: int) -> torch.Tensor:
    """The extended observation ``z(t) = [x(t); x(t - D); ...; x(t - D - L + 1)]``, zeros before the start.

    Args:
        X: ``[batch, freq, mics, frames]`` complex.
    Returns:
        ``[batch, freq, mics * (1 + taps), frames]``.
    """
    B, F, M, T = X.shape
    Z = X.new_zeros(B, F, M * (1 + taps), T)
    Z[:, :, :M] = X
    for lag in range(taps):
        shift = delay + lag
        if shift < T:
            Z[:, :, M * (1 + lag) : M * (2 + lag), shift:] = X[..., : T - shift]
    return Z


def schur_reduction(V: torch.Tensor, n_mics: int):
    """Eliminate the prediction part of the weighted covariances.

    Args:
        V: ``[batch, freq, src, K, K]`` Hermitian positive definite, ``K = M (1 + L)``.
    Returns:
        ``(S, G)``: ``S = A - C Q^{-1} C^H`` ``[batch, freq, src, M, M]`` (Hermitian) and
        ``G = C Q^{-1}`` ``[batch, freq, src, M, M L]``, so that the best prediction row for
        ``w_n^H`` is ``-w_n^H G_n``.
    """
    M = n_mics
    A, C, Q = V[..., :M, :M], V[..., :M, M:], V[..., M:, M:]
    L = torch.linalg.cholesky_ex(Q)[0]  # no error check: no sync (loading keeps Q definite)
    G = torch.cholesky_solve(C.mH, L).mH  # C Q^{-1} (Q Hermitian)
    S = A - G @ C.mH
    return 0.5 * (S + S.mH), G


def prediction_rows(W: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """``P = [W, -w_n^H G_n]``: ``W [batch, freq, src, M]``, ``G [batch, freq, src, M, M L]`` ->
    ``[batch, freq, src, M (1 + L)]``."""
    return torch.cat([W, -(W[..., None, :] @ G)[..., 0, :]], dim=-1)


def iss_prediction_steps(P: torch.Tensor, Y: torch.Tensor, Z: torch.Tensor, weights: torch.Tensor, n_mics: int):
    """T-ISS's rank-1 steps on the delayed channels: for each ``j``, ``y_n <- y_n - u_n xbar_j`` with
    ``u_n = sum_t phi_nt y_nt conj(xbar_jt) / sum_t phi_nt |xbar_jt|^2`` (exact minimisation over
    ``u``; the determinant does not change).

    Args:
        P: ``[batch, freq, src, K]``; Y: ``[batch, freq, src, frames]``; Z: ``[batch, freq, K, frames]``;
        weights: ``[batch, freq or 1, src, frames]``.
    Returns:
        ``(P, Y)`` updated.
    """
    P = P.clone()
    for j in range(n_mics, Z.shape[2]):
        zj = Z[:, :, j : j + 1]  # [B, F, 1, T]
        den = (weights * spatial.power(zj)).sum(-1).clamp_min(1e-30)  # [B, F, N]
        u = (weights * Y * zj.conj()).sum(-1) / den
        Y = Y - u[..., None] * zj
        P[..., j] -= u
    return P, Y


class DereverbState(IterationState):
    """:class:`~asteroid_mvae.separation.engine.IterationState` of :func:`separate_dereverb`: ``demix``
    is the whole filter ``[batch, freq, src, K]`` and ``_mix`` the extended observation."""

    def estimates(self, ref_mic: int = 0) -> torch.Tensor:
        N = self.demix.shape[-2]
        Y = self.demix @ self._mix
        return spatial.projection_back(Y, self.demix[..., :N], ref_mic).transpose(1, 2)


@with_load_adapted_threads
def separate_dereverb(
    mix: torch.Tensor,
    source_model: SourceModel,
    n_iter: int = 60,
    taps: int = DEFAULT_TAPS,
    delay: int = DEFAULT_DELAY,
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
    track_objective: bool = True,
    overwrite_mix: bool = False,
) -> SeparationResult:
    """Separate and dereverberate determined mixtures with a pluggable source model.

    Args:
        mix: mixture STFT ``[batch, mics, freq, frames]`` complex; ``n_src = mics``.
        source_model: a fresh :class:`SourceModel`.
        taps: prediction taps ``L`` (past frames); 0: no prediction, the plain engine
            (:func:`~asteroid_mvae.separation.engine.separate`).
        delay: the first past frame ``D >= 1`` the prediction uses.
        update: ``"ip1"``, ``"ip2"`` (IP form) or ``"iss"`` (T-ISS).
        W0: initial demixing ``[batch, freq, src, mics]`` (no prediction at the start) or a whole
            filter ``[batch, freq, src, mics * (1 + taps)]``; ``None``: identity.
        n_iter, proj_back, ref_mic, normalize, callback, dtype, diag_load, var_floor, ip_sweeps,
        block_frames, track_objective, overwrite_mix: as the engine's (``overwrite_mix`` only
            without taps: with them the outputs never fit in the mixture's place). With prediction
            taps the iterations run in
            complex128 whatever ``dtype`` (the estimates and filter come back in ``dtype``): the Schur
            complement ``A - C Q^{-1} C^H`` cancels most of ``A`` once the prediction explains the
            tail, and float32 covariances then gave indefinite complements and NaN estimates on
            simulated rooms (and lower SI-SDR where they did not).

    Returns:
        :class:`~asteroid_mvae.separation.engine.SeparationResult`: ``estimates [batch, src, freq,
        frames]``, ``demix``: the filter ``[batch, freq, src, mics * (1 + taps)]`` for the input's scale
        (apply it to :func:`stack_past` of the mixture), ``objective [n_iter + 1, batch]``.
    """
    check_prediction(taps, delay)
    if taps == 0:
        return separate(
            mix,
            source_model,
            n_iter=n_iter,
            update=update,
            proj_back=proj_back,
            ref_mic=ref_mic,
            W0=W0,
            normalize=normalize,
            callback=callback,
            dtype=dtype,
            diag_load=diag_load,
            var_floor=var_floor,
            ip_sweeps=ip_sweeps,
            block_frames=block_frames,
            track_objective=track_objective,
            overwrite_mix=overwrite_mix,
        )
    return _separate_dereverb(
        mix,
        source_model,
        n_iter,
        taps,
        delay,
        update,
        proj_back,
        ref_mic,
        W0,
        normalize,
        callback,
        dtype,
        diag_load,
        var_floor,
        ip_sweeps,
        block_frames,
        track_objective,
    )


def _separate_dereverb(
    mix,
    source_model,
    n_iter,
    taps,
    delay,
    update,
    proj_back,
    ref_mic,
    W0,
    normalize,
    callback,
    dtype,
    diag_load,
    var_floor,
    ip_sweeps,
    block_frames,
    track_objective,
) -> SeparationResult:
    """:func:`separate_dereverb`'s iterations (also for ``taps = 0``: the engine's algorithm through the
    same code, which the tests compare with the engine)."""
    if update not in UPDATES:
        raise ValueError(f"update must be one of {UPDATES}; got {update!r}.")
    if ip_sweeps < 1:
        raise ValueError(f"ip_sweeps must be at least 1; got {ip_sweeps}.")
    if mix.dim() != 4 or not mix.is_complex():
        raise ValueError(f"mix must be complex [batch, mics, freq, frames]; got {tuple(mix.shape)} {mix.dtype}.")
    dtype = dtype or (mix.dtype if mix.dtype == torch.complex128 else torch.complex64)
    B, M, F, T = mix.shape
    K = M * (1 + taps)
    out_dtype, dtype = dtype, (torch.complex128 if taps else dtype)  # see separate_dereverb's dtype
    if not 0 <= ref_mic < M:
        raise ValueError(f"ref_mic={ref_mic} but the mixture has {M} microphones.")
    normalize = source_model.scale_invariant if normalize is None else normalize
    diag_load = default_diag_load(dtype) if diag_load is None else diag_load

    X = mix.transpose(1, 2).to(dtype)  # [B, F, M, T]
    scale = spatial.power(X).mean(-1).mean((1, 2)).clamp_min(1e-30).sqrt()  # [B], as the engine
    Z = stack_past(X / scale[:, None, None, None], taps, delay)  # [B, F, K, T]
    J_offset = 2 * T * F * M * torch.log(scale.real.to(torch.float64))
    frames = spatial.MixtureFrames(Z, block_frames)
    z_cov = frames.covariances(torch.ones_like(Z[:, None, :1, 0].real))[:, :, 0]  # [B, F, K, K]

    P = torch.zeros(B, F, M, K, dtype=dtype, device=X.device)
    if W0 is None:
        P[..., :M] = torch.eye(M, dtype=dtype, device=X.device)
    elif W0.shape[-1] in (M, K) and tuple(W0.shape[:-1]) == (B, F, M):
        P[..., : W0.shape[-1]] = W0.to(dtype) * scale[:, None, None, None]
    else:
        raise ValueError(f"W0 must be [batch, freq, src, {M} or {K}]; got {tuple(W0.shape)}.")
    Y = P @ Z if update == "iss" else None

    def current_power(P, Y):
        if update == "iss":
            power = spatial.source_power(Y)
            return power.sum(2, keepdim=True) if source_model.pooled else power
        return frames.pooled_output_power(P) if source_model.pooled else frames.output_power(P)

    def objective(power, P, r):
        source_part = source_model.nll(power, r).to(torch.float64)
        return -2 * T * spatial.log_abs_det(P[..., :M]).to(torch.float64) + source_part + J_offset

    def report(it, P, J):
        if callback is not None:
            callback(
                DereverbState(
                    it, (P @ Z).transpose(1, 2), P / scale[:, None, None, None], J, Z * scale[:, None, None, None]
                )
            )

    power = current_power(P, Y)
    source_model.reset(power)
    r = source_model.update(power).clamp_min(var_floor)
    history = [objective(power, P, r)]
    report(0, P, history[0])
    sweep = spatial.ip1_sweep if update == "ip1" else spatial.ip2_sweep
    for it in range(1, n_iter + 1):
        if it > 1:
            r = source_model.update(power).clamp_min(var_floor)
        weights = torch.reciprocal(r)  # [B, N, F or 1, T]
        power = None
        if update == "iss":
            for _ in range(ip_sweeps):
                P, Y = spatial.iss_sweep(P, Y, weights.transpose(1, 2))
                P, Y = iss_prediction_steps(P, Y, Z, weights.transpose(1, 2), M)
        else:  # the Schur complements depend on the variances only: one for all sweeps
            S, G = schur_reduction(frames.covariances(weights, diag_load, floor=1e-20), M)
            W = P[..., :M]
            for _ in range(ip_sweeps):
                W = sweep(W, S)
            P = prediction_rows(W, G)
        if normalize:  # unit output power: mean_{f,t} |y|^2 = mean_f p^H R_z p
            gain = spatial.output_power(P, z_cov).clamp_min(1e-30)  # [B, N]
            P = P * gain.rsqrt()[:, None, :, None]
            if update == "iss":
                Y = Y * gain.rsqrt()[:, None, :, None]
            source_model.rescale(1 / gain)
            r = r.div_(gain[:, :, None, None])
        power = current_power(P, Y)
        if track_objective or it == n_iter:
            history.append(objective(power, P, r))
        else:
            history.append(torch.full_like(history[0], float("nan")))
        report(it, P, history[-1])

    if proj_back:
        # folded into the filter (Z is the observation at unit power: the input's scale comes back here)
        Y = frames.demix(spatial.projection_back(P, P[..., :M], ref_mic) * scale[:, None, None, None])
    else:
        Y = frames.demix(P)
    P = P / scale[:, None, None, None]
    return SeparationResult(Y.transpose(1, 2).to(out_dtype), P.to(out_dtype), torch.stack(history))
