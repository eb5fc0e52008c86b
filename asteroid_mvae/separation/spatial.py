"""Spatial (demixing-matrix) updates of determined BSS, batched in torch.

Axis order inside the engine (all batched over mixtures and frequencies):

- mixture ``X``: ``[batch, freq, mics, frames]`` complex,
- demixing ``W``: ``[batch, freq, src, mics]`` (row ``n`` is ``w_n^H``), ``N = M``,
- separated ``Y = W X``: ``[batch, freq, src, frames]``,
- weights ``phi = 1 / r``: ``[batch, freq, src, frames]`` real (or broadcastable),
- weighted covariances ``V_n = (1/T) sum_t phi_nt x_t x_t^H``: ``[batch, freq, src, mics, mics]``.

Every update decreases (never increases) the auxiliary function
``-2T sum_f log|det W_f| + T sum_{f,n} w_fn^H V_fn w_fn`` for fixed weights.
"""
import torch


def hermitian_layout(M: int, device=None):
    """Where the ``M^2`` real numbers of a Hermitian ``M x M`` matrix sit in a flat vector.

    Layout: ``[diag (M), Re(upper) (M(M-1)/2), Im(upper) (M(M-1)/2)]``. Returns
    ``(upper_rows, upper_cols, re_index [M, M], im_index [M, M], im_sign [M, M])``.
    """
    rows, cols = torch.triu_indices(M, M, 1, device=device)
    n_upper = rows.numel()
    diag = torch.arange(M, device=device)
    upper = torch.arange(n_upper, device=device)
    re_index = torch.empty(M, M, dtype=torch.long, device=device)
    im_index = torch.zeros(M, M, dtype=torch.long, device=device)
    im_sign = torch.zeros(M, M, device=device)
    re_index[diag, diag] = diag
    re_index[rows, cols] = re_index[cols, rows] = M + upper
    im_index[rows, cols] = im_index[cols, rows] = M + n_upper + upper
    im_sign[rows, cols], im_sign[cols, rows] = 1.0, -1.0
    return rows, cols, re_index, im_index, im_sign


def outer_products(X: torch.Tensor) -> torch.Tensor:
    """``x_t x_t^H`` of every frame as ``M^2`` reals (Hermitian: diagonal and upper triangle).

    Args:
        X: ``[batch, freq, mics, frames]`` complex.
    Returns:
        ``[batch * freq, frames, M^2]`` real, in the order of :func:`hermitian_layout`.
    """
    B, F, M, T = X.shape
    rows, cols, _, _, _ = hermitian_layout(M, X.device)
    xt = X.transpose(-1, -2)  # [B, F, T, M]
    upper = xt[..., rows] * xt[..., cols].conj()
    packed = torch.cat([power(xt), upper.real, upper.imag], dim=-1)
    return packed.reshape(B * F, T, M * M)


def weighted_covariances(xx: torch.Tensor, weights: torch.Tensor, n_mics: int) -> torch.Tensor:
    """``V_n = (1/T) sum_t weights_nt x_t x_t^H``.

    Args:
        xx: ``[batch * freq, frames, M^2]`` from :func:`outer_products`.
        weights: ``[batch, freq, src, frames]`` real (broadcastable over freq).
    Returns:
        ``[batch, freq, src, mics, mics]`` complex Hermitian.
    """
    BF, T, _ = xx.shape
    B, N = weights.shape[0], weights.shape[2]
    w = weights.expand(B, BF // B, N, T).reshape(BF, N, T)
    packed = torch.bmm(w, xx) / T  # [B*F, N, M^2]
    _, _, re_index, im_index, im_sign = hermitian_layout(n_mics, xx.device)
    V = torch.complex(packed[..., re_index], packed[..., im_index] * im_sign.to(packed.dtype))
    return V.reshape(B, BF // B, N, n_mics, n_mics)


def load_diagonal(V: torch.Tensor, diag_load: float, floor: float = 1e-20) -> torch.Tensor:
    """``V + (diag_load * tr(V) / M + floor) I``: keeps the solves finite on silent bins."""
    M = V.shape[-1]
    trace = torch.diagonal(V, dim1=-2, dim2=-1).real.sum(-1)
    load = (diag_load * trace / M + floor)[..., None, None]
    eye = torch.eye(M, dtype=V.dtype, device=V.device)
    return V + load * eye


def power(Y: torch.Tensor) -> torch.Tensor:
    """``|Y|^2`` of a complex tensor (cheaper than ``Y.abs() ** 2``)."""
    parts = torch.view_as_real(Y)
    return torch.addcmul(parts[..., 0] * parts[..., 0], parts[..., 1], parts[..., 1])


def source_power(Y: torch.Tensor) -> torch.Tensor:
    """``|Y|^2`` of outputs ``[batch, freq, src, frames]`` as contiguous ``[batch, src, freq, frames]``."""
    parts = torch.view_as_real(Y.transpose(1, 2))
    out = torch.mul(parts[..., 0], parts[..., 0], out=torch.empty(parts.shape[:-1], dtype=parts.dtype, device=Y.device))
    return out.addcmul_(parts[..., 1], parts[..., 1])


def _quad_form(w: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """``w^H V w`` (real) for ``w [..., M, K]`` and ``V [..., M, M]`` -> ``[..., K]``."""
    return (w.conj() * (V @ w)).sum(-2).real


def ip1_sweep(W: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """One iterative-projection sweep (Ono 2011), row by row.

    ``w_n <- (W V_n)^{-1} e_n``, then ``w_n <- w_n / sqrt(w_n^H V_n w_n)``.

    Args:
        W: ``[batch, freq, src, mics]``; V: ``[batch, freq, src, mics, mics]``.
    Returns:
        The updated ``W`` (a new tensor).
    """
    W = W.clone()
    N, M = W.shape[-2:]
    eye = torch.eye(M, dtype=W.dtype, device=W.device)
    for n in range(N):
        Vn = V[:, :, n]
        w = torch.linalg.solve(W @ Vn, eye[:, n : n + 1].expand(*W.shape[:2], M, 1))
        w = w / _quad_form(w, Vn).clamp_min(1e-30).sqrt()[..., None]
        W[:, :, n] = w[..., 0].conj()
    return W


def _pair_update(W: torch.Tensor, Vi: torch.Tensor, Vj: torch.Tensor, i: int, j: int):
    """Exact joint minimisation over rows ``i`` and ``j`` (IP2, Ono 2012/2018).

    The optimal rows are ``w_k = P_k A_k^{-1} d_k`` with ``P_k = (W V_k)^{-1} [e_i e_j]``,
    ``A_k = P_k^H V_k P_k``; ``d_i, d_j`` solve the 2x2 generalized eigenproblem
    ``A_j^{-1} d = lambda A_i^{-1} d`` (row ``i`` takes the largest eigenvalue).
    """
    M = W.shape[-1]
    E = torch.eye(M, dtype=W.dtype, device=W.device)[:, [i, j]].expand(*W.shape[:2], M, 2)
    P = [torch.linalg.solve(W @ Vk, E) for Vk in (Vi, Vj)]
    Vt = [torch.linalg.inv(Pk.conj().transpose(-1, -2) @ Vk @ Pk) for Pk, Vk in zip(P, (Vi, Vj))]
    Vt = [0.5 * (A + A.conj().transpose(-1, -2)) for A in Vt]  # exact Hermitian symmetry
    L = torch.linalg.cholesky(Vt[0])
    Linv = torch.linalg.solve_triangular(L, torch.eye(2, dtype=W.dtype, device=W.device).expand_as(L), upper=False)
    C = Linv @ Vt[1] @ Linv.conj().transpose(-1, -2)
    evals, evecs = torch.linalg.eigh(0.5 * (C + C.conj().transpose(-1, -2)))
    U = Linv.conj().transpose(-1, -2) @ evecs  # U^H Vt_i U = I, ascending eigenvalues
    d_i = U[..., 1:2]
    d_j = U[..., 0:1] / evals[..., 0:1, None].clamp_min(1e-30).sqrt()
    w_i = P[0] @ (Vt[0] @ d_i)
    w_j = P[1] @ (Vt[1] @ d_j)
    W[:, :, i] = w_i[..., 0].conj()
    W[:, :, j] = w_j[..., 0].conj()


def ip2_sweep(W: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """Pairwise iterative projection: rows ``(0,1), (2,3), ...`` (odd N pairs the last with 0)."""
    W = W.clone()
    N = W.shape[-2]
    for i in range(0, N, 2):
        j = (i + 1) % N
        _pair_update(W, V[:, :, i], V[:, :, j], i, j)
    return W


def iss_sweep(W: torch.Tensor, Y: torch.Tensor, weights: torch.Tensor):
    """Iterative source steering (Scheibler and Ono 2020): rank-1 updates of ``Y`` and ``W``.

    Args:
        W: ``[batch, freq, src, mics]``; Y: ``[batch, freq, src, frames]``;
        weights: ``[batch, freq, src, frames]`` (broadcastable over freq).
    Returns:
        ``(W, Y)`` updated.
    """
    T = Y.shape[-1]
    for k in range(Y.shape[-2]):
        yk = Y[:, :, k : k + 1]  # [B, F, 1, T]
        num = (weights * Y * yk.conj()).sum(-1)  # [B, F, N]
        den = (weights * power(yk)).sum(-1).clamp_min(1e-30)
        v = num / den
        v[:, :, k] = 1 - (den[:, :, k] / T).rsqrt()
        Y = Y - v[..., None] * yk
        W = W - v[..., None] * W[:, :, k : k + 1]
    return W, Y


def output_power(W: torch.Tensor, mix_cov: torch.Tensor) -> torch.Tensor:
    """Mean power ``mean_{f,t} |w_fn^H x_ft|^2 = mean_f w_fn^H R_f w_fn`` of each output.

    Args:
        W: ``[batch, freq, src, mics]``; mix_cov: ``R_f = (1/T) sum_t x_t x_t^H``, ``[batch, freq, mics, mics]``.
    Returns:
        ``[batch, src]``.
    """
    return ((W @ mix_cov) * W.conj()).sum(-1).real.mean(1)


def log_abs_det(W: torch.Tensor) -> torch.Tensor:
    """``sum_f log|det W_f|`` -> ``[batch]``."""
    return torch.linalg.slogdet(W)[1].sum(-1)


def projection_back(Y: torch.Tensor, W: torch.Tensor, ref_mic: int = 0) -> torch.Tensor:
    """Rescale each output to its image at ``ref_mic``: ``y_n <- (W^{-1})_{ref, n} y_n``.

    Args:
        Y: ``[batch, freq, src, frames]``; W: ``[batch, freq, src, mics]``.
    """
    A = torch.linalg.inv(W)  # mixing estimate [B, F, M, N]
    return A[:, :, ref_mic, :, None] * Y
