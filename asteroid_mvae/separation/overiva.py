"""More microphones than sources: OverIVA's spatial updates (Scheibler and Ono, WASPAA 2019).

With ``M`` microphones and ``N < M`` sources the demixing matrix of each frequency is square,
``W_full = [W; J]``: ``N`` source rows ``W [N, M]`` (``w_n^H``) whose outputs follow the source
model, and ``M - N`` background rows ``J`` whose outputs ``z = J x`` are modelled as stationary
Gaussian noise with identity covariance. The negative log-likelihood is

``L = -2T sum_f log|det W_full,f| + sum_{f,t} ||J_f x_ft||^2 + (source part of the N outputs)``.

For fixed source rows, ``L`` is minimised over ``J`` by any ``J`` whose rows span the subspace
orthogonal to the sources in the mixture covariance ``C_f = (1/T) sum_t x x^H`` (``W C J^H = 0``)
and whose outputs are white (``J C J^H = I``). Every such ``J`` gives the same ``L``, the profile

``L(W) = -2T sum_f (log|det [W; J0]| - 1/2 log det(J0 C J0^H)) + T F (M - N) + (source part)``

for any ``J0`` of that row space (:func:`overdetermined_log_det`), here
``J0 = [(W C)_{:, :N}^{-1} (W C)_{:, N:}]^H, -I]`` (:func:`background_rows`). An IP update of a
source row with ``J`` at its optimum (the row update is the same for any ``J0`` of the row space)
followed by the new optimum of ``J`` never increases ``L``: the spatial sweeps below are
majorisation-minimisation steps for every source model the engine takes.

Measured on real speech (egs/vcc2018/results/arrays: VCC2018, RT60 0.3 s, 24 mixtures, M = 2N
against M = N, paired SI-SDRi against the images): the oracle variances gain +4.6 dB (N = 2) and
+5.1 dB (N = 3) with OverIVA, ILRMA +1.3 and +0.7 dB (PCA to N: +1.1, +0.4), AuxIVA's
time-varying Gaussian contrast +0.7 and -0.6 dB (PCA: +1.4, +0.2), and AuxIVA's Laplace contrast
loses 3.2 and 2.6 dB (PCA: +0.1, +0.3; pyroomacoustics' OverIVA loses the same 3.2 dB): with a
weak source model the source rows drift into the background subspace. The multichannel Wiener
post-filter (:mod:`.postfilter`) after OverIVA takes much more of the room: ILRMA +5.8 / +3.4 dB.

Axis order as in :mod:`.spatial`: ``W [batch, freq, src, mics]``, ``V [batch, freq, src, mics, mics]``,
``C [batch, freq, mics, mics]``.
"""

import torch

from . import spatial


def principal_rows(C: torch.Tensor, n_src: int) -> torch.Tensor:
    """OverIVA's start: the ``n_src`` principal axes of each frequency's mixture covariance as rows,
    strongest first (the signal subspace; pyroomacoustics' ``init_eig``). On 3 VCC2018 mixtures
    (RT60 0.3 s, N = 2, M = 4) the identity's first rows gave ILRMA -5.2, 1.0 and 5.4 dB SI-SDRi,
    these 8.6, 4.8 and 8.4 dB (AuxIVA: 1.3, -0.6, -2.2 against 2.1, 1.7, 0.4).

    Args:
        C: ``[batch, freq, M, M]`` Hermitian. Returns ``[batch, freq, n_src, M]`` orthonormal rows.
    """
    _, vectors = torch.linalg.eigh(C)  # ascending eigenvalues
    return vectors[..., -n_src:].flip(-1).mH.resolve_conj().contiguous()


def background_rows(W: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    """Background rows ``J0 = [((W C)_{:, :N}^{-1} (W C)_{:, N:})^H, -I]`` with ``W C J0^H = 0``.

    Args:
        W: source rows ``[batch, freq, N, M]``; C: mixture covariance ``[batch, freq, M, M]``.
    Returns:
        ``[batch, freq, M - N, M]``.
    """
    N, M = W.shape[-2:]
    WC = W @ C  # [B, F, N, M]
    top = torch.linalg.solve_ex(WC[..., :N], WC[..., N:])[0]  # [B, F, N, M - N], no error check: no sync
    minus_eye = -torch.eye(M - N, dtype=W.dtype, device=W.device).expand(*W.shape[:2], M - N, M - N)
    return torch.cat([top.mH, minus_eye], dim=-1)


def full_demix(W: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    """``[W; J0]``: ``[batch, freq, M, M]`` (source rows first)."""
    return torch.cat([W, background_rows(W, C)], dim=-2)


def overdetermined_log_det(W: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    """``sum_f (log|det [W; J0]| - 1/2 log det(J0 C J0^H))`` -> ``[batch]`` (float64): with it the
    objective is ``-2T`` times this plus ``T F (M - N)`` plus the source part (module docstring);
    the same for every ``J0`` spanning the background subspace."""
    full = full_demix(W, C)
    N = W.shape[-2]
    J = full[..., N:, :]
    background_cov = J @ C @ J.mH
    background_cov = 0.5 * (background_cov + background_cov.mH)
    log_det_cov = torch.linalg.slogdet(background_cov)[1].sum(-1)
    return spatial.log_abs_det(full).to(torch.float64) - 0.5 * log_det_cov.to(torch.float64)


def ip1_sweep(W: torch.Tensor, V: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    """OverIVA's IP sweep: for each source row ``n``, with the background at its optimum for the
    current rows, ``w_n <- ([W; J0] V_n)^{-1} e_n``, then ``w_n <- w_n / sqrt(w_n^H V_n w_n)``.

    Args:
        W: ``[batch, freq, N, M]``; V: ``[batch, freq, N, M, M]``; C: ``[batch, freq, M, M]``.
    Returns:
        The updated source rows (a new tensor).
    """
    W = W.clone()
    N, M = W.shape[-2:]
    eye = torch.eye(M, dtype=W.dtype, device=W.device)
    for n in range(N):
        Vn = V[:, :, n]
        w = torch.linalg.solve_ex(full_demix(W, C) @ Vn, eye[:, n : n + 1].expand(*W.shape[:2], M, 1))[0]
        w = w / spatial._quad_form(w, Vn).clamp_min(1e-30).sqrt()[..., None]
        W[:, :, n] = w[..., 0].conj()
    return W


def ip2_sweep(W: torch.Tensor, V: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    """Pairwise IP on the source rows ``(0, 1), (2, 3), ...`` (odd ``N`` pairs the last with 0),
    each pair minimised exactly (:func:`~.spatial._pair_update`) with the background at its optimum.

    Args and returns as :func:`ip1_sweep`.
    """
    N = W.shape[-2]
    for i in range(0, N, 2):
        j = (i + 1) % N
        full = full_demix(W, C)
        spatial._pair_update(full, V[:, :, i], V[:, :, j], i, j)
        W = full[..., :N, :].clone()
    return W


SWEEPS = {"ip1": ip1_sweep, "ip2": ip2_sweep}  #: the updates with a background form


def projection_back(W: torch.Tensor, C: torch.Tensor, ref_mic: int = 0) -> torch.Tensor:
    """Source rows rescaled to their images at ``ref_mic``: ``w_n <- (W_full^{-1})_{ref, n} w_n``
    (the background outputs being uncorrelated with the sources, this is also the least-squares
    fit of ``x_ref`` by the outputs). ``[batch, freq, N, M]`` -> ``[batch, freq, N, M]``."""
    full = full_demix(W, C)
    return spatial.projection_back(full, full, ref_mic)[..., : W.shape[-2], :]
