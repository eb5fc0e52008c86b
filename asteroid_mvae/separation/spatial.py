"""Spatial (demixing-matrix) updates of determined BSS, batched in torch.

Axis order inside the engine (all batched over mixtures and frequencies):

- mixture ``X``: ``[batch, freq, mics, frames]`` complex,
- demixing ``W``: ``[batch, freq, src, mics]`` (row ``n`` is ``w_n^H``), ``N = M``,
- separated ``Y = W X``: ``[batch, freq, src, frames]``,
- weights ``phi = 1 / r``: ``[batch, src, freq, frames]`` real (the source models' layout;
  ``freq`` may be 1 when the weights do not depend on frequency, as in IVA),
- weighted covariances ``V_n = (1/T) sum_t phi_nt x_t x_t^H``: ``[batch, freq, src, mics, mics]``,
- packed outer products ``x_t x_t^H``: ``[batch * freq, M^2, frames]`` real (see
  :func:`hermitian_layout`); with them both ``V`` and the output power ``|w_n^H x_t|^2`` are
  real matrix products, so the iterations never form the complex outputs ``Y = W X``.

Every update decreases (never increases) the auxiliary function
``-2T sum_f log|det W_f| + T sum_{f,n} w_fn^H V_fn w_fn`` for fixed weights.
"""

import functools

import torch

from . import cpu_kernels


@functools.lru_cache(maxsize=None)
def hermitian_layout(M: int, device=None):
    """Where the ``M^2`` real numbers of a Hermitian ``M x M`` matrix sit in a flat vector.

    Layout: ``[diag (M), Re(upper) (M(M-1)/2), Im(upper) (M(M-1)/2)]``. Returns
    ``(upper_rows, upper_cols, re_index [M, M], im_index [M, M], im_sign [M, M])`` (cached:
    treat them as read-only).
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
        ``[batch * freq, M^2, frames]`` real, rows in the order of :func:`hermitian_layout`.
    """
    B, F, M, T = X.shape
    # row by row: slices, not gathers (faster); the order of hermitian_layout's upper triangle
    upper = torch.cat([X[:, :, i : i + 1] * X[:, :, i + 1 :].conj() for i in range(M - 1)], dim=2)
    packed = torch.cat([power(X), upper.real, upper.imag], dim=2)  # [B, F, M^2, T]
    return packed.reshape(B * F, M * M, T)


def weighted_covariances(
    xx: torch.Tensor, weights: torch.Tensor, n_mics: int, diag_load: float = 0.0, floor: float = 0.0
) -> torch.Tensor:
    """``V_n = (1/T) sum_t weights_nt x_t x_t^H``, optionally ``+ (diag_load * tr(V_n) / M + floor) I``.

    The loading keeps the solves finite on silent bins.

    Args:
        xx: ``[batch * freq, M^2, frames]`` from :func:`outer_products`, or an iterable of such
            blocks of consecutive frames, made one at a time (long recordings: ``weights`` then
            covers all of them).
        weights: ``[batch, src, freq, frames]`` real, or ``[batch, src, 1, frames]`` (the same
            weights at every frequency: one matrix product over all frequencies at once).
    Returns:
        ``[batch, freq, src, mics, mics]`` complex Hermitian.
    """
    packed, start = 0, 0
    for block in [xx] if isinstance(xx, torch.Tensor) else xx:
        stop = start + block.shape[-1]
        packed = packed + packed_weighted_sums(block, weights[..., start:stop])
        start = stop
    packed = packed / weights.shape[-1]  # [B, F, N, M^2]
    if diag_load or floor:  # the diagonal is the first M packed entries
        diagonal = packed[..., :n_mics]
        diagonal += diagonal.sum(-1, keepdim=True) * (diag_load / n_mics) + floor
    return unpack_hermitian(packed, n_mics)


def packed_weighted_sums(xx: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``sum_t weights_nt x_t x_t^H`` in the packed layout: ``[batch, freq, src, M^2]``.

    Args:
        xx: ``[batch * freq, M^2, frames]``; weights: ``[batch, src, freq or 1, frames]``.
    """
    if cpu_kernels.applies_to_packed(xx, weights):  # compiled loops, not torch's products
        return cpu_kernels.packed_weighted_sums(xx, weights)
    BF, MM, T = xx.shape
    B, N = weights.shape[:2]
    F = BF // B
    if weights.shape[2] == 1:  # [B, N, T] @ [B, T, F * M^2] (this orientation is the fast one)
        packed = torch.bmm(weights[:, :, 0], xx.reshape(B, F * MM, T).transpose(1, 2))
        return packed.reshape(B, N, F, MM).transpose(1, 2)
    # per frequency: [B * F, M^2, T] @ [B * F, T, N]
    packed = torch.bmm(xx, weights.permute(0, 2, 3, 1).reshape(BF, T, N))
    return packed.reshape(B, F, MM, N).transpose(2, 3)


#: packed outer products up to this size are kept for all frames; beyond it (long recordings,
#: many microphones) covariances and powers are computed from the STFT per block of frames.
PACKED_BYTES = 2**30


class MixtureFrames:
    """The mixture's frames for the IP updates: covariances and output powers through the packed
    outer products (:func:`outer_products`, kept for all frames), or, for long recordings,
    directly from ``X`` per block of ``block_frames`` frames (complex products, no packed copy),
    so that memory does not grow with ``T`` beyond the STFT itself.

    Args:
        X: ``[batch, freq, mics, frames]`` complex.
        block_frames: frames per block; ``None``: whole (packed) when the packed products fit in
            :data:`PACKED_BYTES`, else blocks whose temporaries take about an eighth of it.
    """

    def __init__(self, X: torch.Tensor, block_frames=None):
        B, F, M, T = X.shape
        per_frame = B * F * M * M * X.real.element_size()
        if block_frames is None:
            block_frames = T if per_frame * T <= PACKED_BYTES else max(1, PACKED_BYTES // (16 * per_frame))
        if block_frames < 1:
            raise ValueError(f"block_frames must be at least 1; got {block_frames}.")
        self.X, self.n_mics, self.n_frames, self.block = X, M, T, min(int(block_frames), T)
        self.xx = outer_products(X) if self.block == T else None

    def blocks(self):
        """``(start, stop)`` of each block of frames."""
        for start in range(0, self.n_frames, self.block):
            yield start, min(start + self.block, self.n_frames)

    def covariances(self, weights: torch.Tensor, diag_load: float = 0.0, floor: float = 0.0) -> torch.Tensor:
        """As :func:`weighted_covariances` for ``weights [batch, src, freq or 1, frames]`` (blocks:
        the packed outer products of one block of frames at a time)."""
        xx = self.xx if self.xx is not None else (outer_products(self.X[..., a:b]) for a, b in self.blocks())
        return weighted_covariances(xx, weights, self.n_mics, diag_load, floor)

    @property
    def packed_power(self) -> bool:
        """Output powers from the packed products (up to 4 microphones; beyond, ``|W X|^2`` reads
        less memory: 2M reals per bin and frame against M^2, faster at M = 6, 8)."""
        return self.xx is not None and self.n_mics <= 4

    def output_power(self, W: torch.Tensor) -> torch.Tensor:
        """As :func:`packed_output_power`: ``[batch, src, freq, frames]``."""
        if self.packed_power:
            return packed_output_power(W, self.xx)
        B, F, N, _ = W.shape
        out = torch.empty(B, N, F, self.n_frames, dtype=self.X.real.dtype, device=self.X.device)
        for start, stop, block_power in self._direct_powers(W):
            out[..., start:stop] = block_power.transpose(1, 2)
        return out

    def _direct_powers(self, W: torch.Tensor):
        """``(start, stop, |W X|^2 [batch, freq, src, block])`` for each block of frames."""
        for start, stop in self.blocks():
            yield start, stop, power(W @ self.X[..., start:stop])

    def pooled_output_power(self, W: torch.Tensor) -> torch.Tensor:
        """``sum_f |y_nft|^2`` -> ``[batch, src, 1, frames]`` (what IVA's spherical contrasts need):
        one matrix product over all frequencies, the per-frequency powers never formed."""
        B, F, N, M = W.shape
        if self.packed_power:
            coeffs = quadratic_coefficients(W).transpose(1, 2).reshape(B, N, F * M * M)
            pooled = torch.bmm(coeffs, self.xx.reshape(B, F * M * M, self.n_frames)).clamp_min_(0.0)
            return pooled[:, :, None]
        out = torch.empty(B, N, 1, self.n_frames, dtype=self.X.real.dtype, device=self.X.device)
        for start, stop, block_power in self._direct_powers(W):
            out[:, :, 0, start:stop] = block_power.sum(1)
        return out

    def demix(self, W: torch.Tensor, out=None) -> torch.Tensor:
        """``W @ X`` -> ``[batch, freq, src, frames]``, per block of frames; ``out`` may be ``X``
        itself (``N = M``: each block is read before it is overwritten)."""
        if out is None and self.block == self.n_frames:
            return W @ self.X
        B, F, N, _ = W.shape
        if out is None:
            out = torch.empty(B, F, N, self.n_frames, dtype=self.X.dtype, device=self.X.device)
        for start, stop in self.blocks():
            out[..., start:stop] = W @ self.X[..., start:stop]
        return out


def unpack_hermitian(packed: torch.Tensor, M: int) -> torch.Tensor:
    """``[..., M^2]`` reals in the order of :func:`hermitian_layout` -> ``[..., M, M]`` complex."""
    layout = hermitian_layout(M, packed.device)
    if cpu_kernels.applies_to_reals(packed):
        return cpu_kernels.unpack_hermitian(packed, layout)
    _, _, re_index, im_index, im_sign = layout
    real = packed.index_select(-1, re_index.flatten()).unflatten(-1, (M, M))
    imag = packed.index_select(-1, im_index.flatten()).unflatten(-1, (M, M)) * im_sign.to(packed.dtype)
    return torch.complex(real, imag)


def quadratic_coefficients(W: torch.Tensor) -> torch.Tensor:
    """Coefficients ``c`` with ``|w_n^H x|^2 = sum_k c_nk (x x^H)_k`` in the packed layout.

    With ``a_m = W[n, m]`` (so ``y_n = sum_m a_m x_m``): ``|a_m|^2`` on the diagonal, and for
    ``i < j`` the terms ``2 Re(a_i conj(a_j)) Re(x_i conj(x_j)) - 2 Im(a_i conj(a_j)) Im(x_i conj(x_j))``.

    Args:
        W: ``[batch, freq, src, mics]``. Returns ``[batch, freq, src, M^2]`` real.
    """
    M = W.shape[-1]
    rows, cols, _, _, _ = hermitian_layout(M, W.device)
    cross = 2 * W[..., rows] * W[..., cols].conj()
    return torch.cat([power(W), cross.real, -cross.imag], dim=-1)


def packed_output_power(W: torch.Tensor, xx: torch.Tensor) -> torch.Tensor:
    """``|y_nft|^2 = |w_fn^H x_ft|^2`` from the packed outer products, without forming ``Y``.

    Args:
        W: ``[batch, freq, src, mics]``; xx: ``[batch * freq, M^2, frames]``.
    Returns:
        ``[batch, src, freq, frames]`` real, contiguous (clamped at 0 against rounding).
    """
    B, F, N, M = W.shape
    T = xx.shape[-1]
    if cpu_kernels.applies_to_packed(xx):  # one compiled loop, written in the output's layout
        return cpu_kernels.packed_quadratic_forms(quadratic_coefficients(W), xx)
    coeffs = quadratic_coefficients(W).reshape(B * F, N, M * M)
    per_freq = torch.bmm(coeffs, xx).reshape(B, F, N, T)
    out = torch.empty(B, N, F, T, dtype=per_freq.dtype, device=per_freq.device)
    return torch.clamp_min(per_freq.transpose(1, 2), 0.0, out=out)


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


def _cross(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """``p x q`` over the last axis of length 3 (no conjugation)."""
    return torch.stack(
        [
            p[..., 1] * q[..., 2] - p[..., 2] * q[..., 1],
            p[..., 2] * q[..., 0] - p[..., 0] * q[..., 2],
            p[..., 0] * q[..., 1] - p[..., 1] * q[..., 0],
        ],
        dim=-1,
    )


def ip1_sweep(W: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """One iterative-projection sweep (Ono 2011), row by row.

    ``w_n <- (W V_n)^{-1} e_n``, then ``w_n <- w_n / sqrt(w_n^H V_n w_n)``. CPU tensors go through the
    compiled kernel of :mod:`.cpu_kernels` (faster on the CPU), everything else (GPU,
    fake tensors, autograd, ``M > 8``) through :func:`ip1_sweep_batched`; the two agree to rounding.

    Args:
        W: ``[batch, freq, src, mics]``; V: ``[batch, freq, src, mics, mics]``.
    Returns:
        The updated ``W`` (a new tensor).
    """
    if cpu_kernels.applies_to_ip1(W, V):
        return cpu_kernels.ip1_sweep(W, V)
    return ip1_sweep_batched(W, V)


def ip1_sweep_batched(W: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """:func:`ip1_sweep` in batched torch ops: one batched solve per row (closed forms for two and
    three microphones in torch's complex arithmetic were slower than these solves)."""
    W = W.clone()
    N, M = W.shape[-2:]
    eye = torch.eye(M, dtype=W.dtype, device=W.device)
    for n in range(N):
        Vn = V[:, :, n]
        w = torch.linalg.solve_ex(W @ Vn, eye[:, n : n + 1].expand(*W.shape[:2], M, 1))[0]  # no error check: no sync
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
    # the _ex forms do not raise (nor sync): bins where a factorisation fails keep their rows (below)
    solved = [torch.linalg.solve_ex(W @ Vk, E) for Vk in (Vi, Vj)]
    P = [Pk for Pk, _ in solved]
    inverted = [torch.linalg.inv_ex(Pk.conj().transpose(-1, -2) @ Vk @ Pk) for Pk, Vk in zip(P, (Vi, Vj))]
    Vt = [0.5 * (A + A.conj().transpose(-1, -2)) for A, _ in inverted]  # exact Hermitian symmetry
    L, info = torch.linalg.cholesky_ex(Vt[0])
    Linv = torch.linalg.solve_triangular(L, torch.eye(2, dtype=W.dtype, device=W.device).expand_as(L), upper=False)
    C = Linv @ Vt[1] @ Linv.conj().transpose(-1, -2)
    evals, evecs = torch.linalg.eigh(0.5 * (C + C.conj().transpose(-1, -2)))
    U = Linv.conj().transpose(-1, -2) @ evecs  # U^H Vt_i U = I, ascending eigenvalues
    d_i = U[..., 1:2]
    d_j = U[..., 0:1] / evals[..., 0:1, None].clamp_min(1e-30).sqrt()
    w_i = P[0] @ (Vt[0] @ d_i)
    w_j = P[1] @ (Vt[1] @ d_j)
    failed = info != 0
    for _, code in solved + inverted:
        failed = failed | (code != 0)
    rows = torch.cat([w_i, w_j], dim=-1).mT.conj()  # [batch, freq, 2, M]
    failed = failed | ~torch.isfinite(rows).all(-1).all(-1)  # degenerate bins (a collapsed output in float32)
    W[:, :, [i, j]] = torch.where(failed[..., None, None], W[:, :, [i, j]], rows)


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
    """``sum_f log|det W_f|`` -> ``[batch]`` (closed forms for ``2 x 2`` and ``3 x 3``)."""
    M = W.shape[-1]
    if M in (2, 3):  # on W / s, s its largest magnitude (no under- or overflow)
        s = W.abs().amax((-2, -1)).clamp_min(torch.finfo(W.real.dtype).tiny)
        w = W / s[..., None, None]
        if M == 2:
            det = w[..., 0, 0] * w[..., 1, 1] - w[..., 0, 1] * w[..., 1, 0]
        else:
            det = (w[..., 0, :] * _cross(w[..., 1, :], w[..., 2, :])).sum(-1)
        return (torch.log(det.abs()) + M * torch.log(s)).sum(-1)
    return torch.linalg.slogdet(W)[1].sum(-1)


def projection_back(Y: torch.Tensor, W: torch.Tensor, ref_mic: int = 0) -> torch.Tensor:
    """Rescale each output to its image at ``ref_mic``: ``y_n <- (W^{-1})_{ref, n} y_n``.

    Args:
        Y: ``[batch, freq, src, frames]``; W: ``[batch, freq, src, mics]``.
    """
    A = torch.linalg.inv_ex(W)[0]  # mixing estimate [B, F, M, N]; singular: non-finite, caught by the models
    return A[:, :, ref_mic, :, None] * Y


def pca_reduction(X: torch.Tensor, n_src: int) -> torch.Tensor:
    """Per-frequency projections onto the ``n_src`` principal axes of the spatial covariance.

    More microphones than sources (``M > N``): the determined engine then runs on the
    ``N``-dimensional signal subspace (the principal components carry the sources' power,
    the remaining ``M - N`` mostly reverberation and noise).

    Args:
        X: ``[batch, mics, freq, frames]`` complex.
    Returns:
        ``P [batch, freq, n_src, mics]`` with orthonormal rows, strongest axis first.
    """
    R = torch.einsum("bmft,bnft->bfmn", X, X.conj()) / X.shape[-1]
    _, vectors = torch.linalg.eigh(R)  # ascending eigenvalues
    return vectors[..., -n_src:].flip(-1).mH


def least_squares_images(Y: torch.Tensor, x_ref: torch.Tensor, load: float = 1e-10) -> torch.Tensor:
    """Images at the reference microphone: ``c_n y_n`` with ``c`` the least-squares fit
    ``x_ref ~ sum_n c_n y_n`` per frequency (equals :func:`projection_back` when ``W`` is
    square and ``Y = W X``; also valid for ``N x M`` demixing).

    Args:
        Y: ``[batch, src, freq, frames]``; x_ref: ``[batch, freq, frames]``.
    """
    G = torch.einsum("bmft,bnft->bfmn", Y.conj(), Y)
    G = G + load * G.diagonal(dim1=-2, dim2=-1).real.mean(-1)[..., None, None].clamp_min(1e-30) * torch.eye(
        G.shape[-1], dtype=G.dtype, device=G.device
    )
    b = torch.einsum("bmft,bft->bfm", Y.conj(), x_ref)
    c, info = torch.linalg.solve_ex(G, b[..., None])  # no raise, no sync
    c = torch.where((info == 0)[..., None], c[..., 0], 0)  # [B, F, N]; a singular bin (no energy): zero
    return c.transpose(1, 2)[..., None] * Y
