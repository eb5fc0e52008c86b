"""Compiled CPU kernels (numba) of the engine's small per-frequency steps.

An IP sweep solves ``B * F * N`` tiny systems (``M <= 8``). Through torch each row is one batched
LAPACK call plus a dozen batched elementwise ops, and at ``M = 2`` the per-op overhead is most of
the time. Here one compiled loop over frequencies does a row's whole update in registers, in double
precision whatever the input dtype, with ``M`` a compile-time constant (one specialisation per
``M``): measured 4.2x / 3.4x faster than the batched solves at ``M = 2, 3`` (closed forms), 1.7x,
2.2x and 1.3x at ``M = 4, 6, 8`` (``w = V_n^{-1} W^{-1} e_n`` by LU and Cholesky), one thread, 1025
frequencies. The packed covariance and output-power loops replace torch's
``B * F`` tiny matrix products where that pays. The torch code stays the reference and runs everywhere else (GPU, fake tensors, autograd,
``M > 8``); tests hold the two to the same results.

Set ``ASTEROID_MVAE_KERNELS=0`` to use torch only. Compiled code is cached on disk (numba's cache),
so only the first process pays the compilation (seconds); later ones load it in about 0.3 s.
"""
import functools
import logging
import os
from concurrent.futures import ThreadPoolExecutor

import torch

log = logging.getLogger(__name__)

_DTYPES = (torch.complex64, torch.complex128)
#: microphones with a compiled IP1 kernel
MAX_MICS = 8


def enabled() -> bool:
    """Whether the compiled kernels may be used: numba importable and not disabled."""
    return os.environ.get("ASTEROID_MVAE_KERNELS", "1") != "0" and _ip1_kernels() is not None


def _njit(numba, **options):
    """``numba.njit`` with NumPy's error model (a division by zero gives inf or NaN, which the
    separators report, instead of raising inside the loop; also what lets LLVM vectorise divisions)
    and the on-disk cache where numba finds a writable place for it (next to this file or in the
    user's cache directory); else compiled once per process."""
    options = {"error_model": "numpy", **options}

    def decorate(function):
        try:
            return numba.njit(cache=True, **options)(function)
        except RuntimeError as error:  # "cannot cache function ...: no locator available"
            log.warning("numba cannot cache %s (%s): compiled in every process", function.__name__, error)
            return numba.njit(**options)(function)
    return decorate


def _plain_cpu(tensors, dtypes) -> bool:
    """Real (not fake) CPU tensors of one dtype among ``dtypes``, outside autograd."""
    return all(t.device.type == "cpu" and t.dtype in dtypes and t.dtype == tensors[0].dtype and not t.requires_grad
               and not isinstance(t, torch._subclasses.FakeTensor) for t in tensors)


def applies(W: torch.Tensor, *others: torch.Tensor) -> bool:
    """The IP kernel takes CPU complex tensors of one dtype outside autograd, ``2 <= M <= 8``."""
    return _plain_cpu((W, *others), _DTYPES) and 2 <= W.shape[-1] <= MAX_MICS and enabled()


@functools.lru_cache(maxsize=None)
def _ip1_kernels():
    """``{M: kernel(W [K, N, M], V [K, N, M, M], start, stop)}``, built on first use (None without numba)."""
    try:
        import numba
        import numpy as np
    except ImportError:  # pragma: no cover - numba is a dependency; torch remains the fallback
        log.warning("numba is not importable: the engine uses its torch IP updates on the CPU")
        return None

    inline = _njit(numba, nogil=True, inline="always")

    @inline
    def solve_in_place(A, b):
        """``b <- A^{-1} b`` by Gaussian elimination with partial pivoting (``A`` overwritten)."""
        M = A.shape[0]
        for c in range(M):
            pivot, best = c, A[c, c].real ** 2 + A[c, c].imag ** 2
            for r in range(c + 1, M):
                size = A[r, c].real ** 2 + A[r, c].imag ** 2
                if size > best:
                    pivot, best = r, size
            if pivot != c:
                for j in range(c, M):
                    A[c, j], A[pivot, j] = A[pivot, j], A[c, j]
                b[c], b[pivot] = b[pivot], b[c]
            inverse = A[c, c].conjugate() * (1.0 / best)  # complex / real would be a complex division
            A[c, c] = inverse
            for r in range(c + 1, M):
                factor = A[r, c] * inverse
                for j in range(c + 1, M):
                    A[r, j] -= factor * A[c, j]
                b[r] -= factor * b[c]
        for c in range(M - 1, -1, -1):
            total = b[c]
            for j in range(c + 1, M):
                total -= A[c, j] * b[j]
            b[c] = total * A[c, c]

    @inline
    def inverse_column(A, n, b):
        """``b <- A^{-1} e_n`` for ``2 x 2`` and ``3 x 3`` ``A``: column ``n`` of the adjugate over the determinant."""
        M = A.shape[0]
        if M == 2:
            det = A[0, 0] * A[1, 1] - A[0, 1] * A[1, 0]
            inverse = det.conjugate() * (1.0 / (det.real ** 2 + det.imag ** 2))
            if n == 0:
                b[0], b[1] = A[1, 1] * inverse, -A[1, 0] * inverse
            else:
                b[0], b[1] = -A[0, 1] * inverse, A[0, 0] * inverse
        elif M == 3:  # column n of the adjugate: the cross product of the two other rows
            i, j = (n + 1) % 3, (n + 2) % 3
            b[0] = A[i, 1] * A[j, 2] - A[i, 2] * A[j, 1]
            b[1] = A[i, 2] * A[j, 0] - A[i, 0] * A[j, 2]
            b[2] = A[i, 0] * A[j, 1] - A[i, 1] * A[j, 0]
            det = A[n, 0] * b[0] + A[n, 1] * b[1] + A[n, 2] * b[2]
            inverse = det.conjugate() * (1.0 / (det.real ** 2 + det.imag ** 2))
            for m in range(3):
                b[m] *= inverse

    @inline
    def hermitian_solve(V, k, n, L, b):
        """``b <- V[k, n]^{-1} b`` for Hermitian positive definite ``V[k, n]``: Cholesky ``L L^H`` into ``L``
        (its diagonal holds the reciprocals: products, not complex divisions)."""
        M = L.shape[0]
        for j in range(M):
            diagonal = V[k, n, j, j].real
            for p in range(j):
                diagonal -= L[j, p].real ** 2 + L[j, p].imag ** 2
            reciprocal = 1.0 / np.sqrt(max(diagonal, 1e-300))
            L[j, j] = reciprocal
            for i in range(j + 1, M):
                total = complex(V[k, n, i, j])
                for p in range(j):
                    total -= L[i, p] * L[j, p].conjugate()
                L[i, j] = total * reciprocal
        for i in range(M):  # L y = b
            total = b[i]
            for p in range(i):
                total -= L[i, p] * b[p]
            b[i] = total * L[i, i].real
        for i in range(M - 1, -1, -1):  # L^H x = y
            total = b[i]
            for p in range(i + 1, M):
                total -= L[p, i].conjugate() * b[p]
            b[i] = total * L[i, i].real

    @inline
    def ip1_frequency(W, V, k, A, b, u):
        """IP1 rows of frequency ``k``: ``W[k] [N, M]`` in place, given ``V[k] [N, M, M]``."""
        M = A.shape[0]
        for n in range(W.shape[1]):
            if M <= 3:  # w = (W V_n)^{-1} e_n in closed form
                for i in range(M):
                    for j in range(M):
                        total = 0j
                        for m in range(M):
                            total += complex(W[k, i, m]) * complex(V[k, n, m, j])
                        A[i, j] = total
                inverse_column(A, n, b)
                quad = 0.0  # w^H V_n w
                for i in range(M):
                    total = 0j
                    for j in range(M):
                        total += complex(V[k, n, i, j]) * b[j]
                    quad += b[i].real * total.real + b[i].imag * total.imag
            else:  # w = V_n^{-1} u with W u = e_n: half the flops of forming and solving W V_n
                for i in range(M):
                    for j in range(M):
                        A[i, j] = W[k, i, j]
                    u[i] = 0j
                u[n] = 1.0
                solve_in_place(A, u)
                for i in range(M):
                    b[i] = u[i]
                hermitian_solve(V, k, n, A, b)
                quad = 0.0  # w^H V_n w = w^H u
                for i in range(M):
                    quad += b[i].real * u[i].real + b[i].imag * u[i].imag
            scale = 1.0 / np.sqrt(max(quad, 1e-30))
            for i in range(M):
                W[k, n, i] = b[i].conjugate() * scale

    def specialise(M):
        """The kernel for ``M`` microphones (``M`` a constant of the compiled loops)."""

        @_njit(numba, nogil=True)  # nogil: frequency ranges run in parallel threads
        def ip1_range(W, V, start, stop):
            A = np.empty((M, M), dtype=np.complex128)
            b = np.empty(M, dtype=np.complex128)
            u = np.empty(M, dtype=np.complex128)
            for k in range(start, stop):
                ip1_frequency(W, V, k, A, b, u)

        return ip1_range

    return {M: specialise(M) for M in range(2, MAX_MICS + 1)}


@functools.lru_cache(maxsize=1)
def _pool(pid: int) -> ThreadPoolExecutor:
    """This process's worker threads (keyed by pid: a forked child never reuses its parent's)."""
    return ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="asteroid-mvae-ip")


#: below this many frequency rows times M^3 one thread does the sweep (a thread hand-off costs ~50 us)
PARALLEL_WORK = 2**14


def ip1_sweep(W: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """As :func:`~asteroid_mvae.separation.spatial.ip1_sweep`, compiled (check :func:`applies` first).

    Frequencies are split over ``torch.get_num_threads()`` threads (the kernels release the GIL).

    Args:
        W: ``[batch, freq, src, mics]``; V: ``[batch, freq, src, mics, mics]``.
    Returns:
        The updated ``W`` (a new tensor).
    """
    B, F, N, M = W.shape
    W = W.resolve_conj().resolve_neg().clone(memory_format=torch.contiguous_format)
    w = W.numpy().reshape(B * F, N, M)
    v = V.resolve_conj().resolve_neg().contiguous().numpy().reshape(B * F, N, M, M)
    kernel, K = _ip1_kernels()[M], B * F
    threads = min(torch.get_num_threads(), max(1, K * N * M**3 // PARALLEL_WORK))
    if threads == 1:
        kernel(w, v, 0, K)
        return W
    bounds = [K * i // threads for i in range(threads + 1)]
    jobs = [_pool(os.getpid()).submit(kernel, w, v, a, b) for a, b in zip(bounds[1:-1], bounds[2:])]
    kernel(w, v, 0, bounds[1])
    for job in jobs:
        job.result()
    return W


def applies_to_reals(*tensors: torch.Tensor) -> bool:
    """CPU float32/float64 tensors of one dtype outside autograd (kernels enabled)."""
    return _plain_cpu(tensors, (torch.float32, torch.float64)) and enabled()


def applies_to_packed(xx: torch.Tensor, weights: torch.Tensor = None) -> bool:
    """The packed covariance/power kernels take CPU float32/float64 tensors of one dtype outside
    autograd, where they pay. Weights shared by all frequencies (IVA): always (measured 1.2-1.6x
    faster than torch's matrix product at M = 2-6, one or two threads). Per-frequency weights and
    output powers: with one torch thread, or two microphones (these loops are single-threaded;
    against torch's products with 2 threads: 1.2-1.5x faster at M = 2, equal or up to 1.8x slower
    at M = 3-6)."""
    if not applies_to_reals(xx, *([] if weights is None else [weights])):
        return False
    shared = weights is not None and weights.shape[2] == 1
    return shared or torch.get_num_threads() == 1 or xx.shape[1] == 4


@functools.lru_cache(maxsize=None)
def _packed_kernels():
    """``(weighted_sums, shared_weighted_sums, quadratic_forms, unpack)`` over packed outer products
    (see :func:`~asteroid_mvae.separation.spatial.outer_products`)."""
    import numba

    # reassociated sums over frames (vectorised): the result depends on the machine's vector width only
    sums = _njit(numba, nogil=True, fastmath={"reassoc", "contract", "nsz"})

    @sums
    def weighted_sums(xx, weights, out):
        """``out[b, f, n, k] = sum_t weights[b, n, f, t] xx[b F + f, k, t]``."""
        B, N, F, T = weights.shape
        for b in range(B):
            for f in range(F):
                for n in range(N):
                    for k in range(xx.shape[1]):
                        total = xx.dtype.type(0.0)
                        for t in range(T):
                            total += weights[b, n, f, t] * xx[b * F + f, k, t]
                        out[b, f, n, k] = total

    @sums
    def shared_weighted_sums(xx, weights, out):
        """``out[b, f, n, k] = sum_t weights[b, n, t] xx[b F + f, k, t]``."""
        B, N, T = weights.shape
        F = out.shape[1]
        for b in range(B):
            for f in range(F):
                for k in range(xx.shape[1]):
                    for n in range(N):
                        total = xx.dtype.type(0.0)
                        for t in range(T):
                            total += weights[b, n, t] * xx[b * F + f, k, t]
                        out[b, f, n, k] = total

    @_njit(numba, nogil=True, fastmath={"contract"})
    def quadratic_forms(coeffs, xx, out):
        """``out[b, n, f, t] = max(0, sum_k coeffs[b F + f, n, k] xx[b F + f, k, t])``."""
        B, N, F, T = out.shape
        for b in range(B):
            for f in range(F):
                for n in range(N):
                    c = coeffs[b * F + f, n]
                    for t in range(T):
                        out[b, n, f, t] = c[0] * xx[b * F + f, 0, t]
                    for k in range(1, xx.shape[1]):
                        for t in range(T):
                            out[b, n, f, t] += c[k] * xx[b * F + f, k, t]
                    for t in range(T):
                        out[b, n, f, t] = max(out[b, n, f, t], 0.0)

    @_njit(numba, nogil=True)
    def unpack(packed, re_index, im_index, im_sign, out):
        """``out[r, i, j] = packed[r, re_index[i, j]] + 1j * im_sign[i, j] * packed[r, im_index[i, j]]``."""
        M = out.shape[1]
        for r in range(packed.shape[0]):
            for i in range(M):
                for j in range(M):
                    out[r, i, j] = complex(packed[r, re_index[i, j]], im_sign[i, j] * packed[r, im_index[i, j]])

    return weighted_sums, shared_weighted_sums, quadratic_forms, unpack


def packed_weighted_sums(xx: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """As :func:`~asteroid_mvae.separation.spatial.packed_weighted_sums` (weights ``[batch, src,
    freq or 1, frames]``). Returns ``[batch, freq, src, M^2]``."""
    B, N, F, T = weights.shape
    if F == 1:
        F = xx.shape[0] // B
        out = torch.empty(B, F, N, xx.shape[1], dtype=xx.dtype)
        _packed_kernels()[1](xx.contiguous().numpy(), weights[:, :, 0].contiguous().numpy(), out.numpy())
        return out
    out = torch.empty(B, F, N, xx.shape[1], dtype=xx.dtype)
    _packed_kernels()[0](xx.contiguous().numpy(), weights.contiguous().numpy(), out.numpy())
    return out


def packed_quadratic_forms(coeffs: torch.Tensor, xx: torch.Tensor) -> torch.Tensor:
    """``max(0, coeffs @ xx)`` per frequency, written as ``[batch, src, freq, frames]`` (no transposed
    copy). Args: coeffs ``[batch, freq, src, M^2]``; xx ``[batch * freq, M^2, frames]``."""
    B, F, N, MM = coeffs.shape
    out = torch.empty(B, N, F, xx.shape[-1], dtype=xx.dtype)
    _packed_kernels()[2](coeffs.reshape(B * F, N, MM).contiguous().numpy(), xx.contiguous().numpy(), out.numpy())
    return out


def unpack_hermitian(packed: torch.Tensor, layout) -> torch.Tensor:
    """As :func:`~asteroid_mvae.separation.spatial.unpack_hermitian`, given its ``hermitian_layout``."""
    _, _, re_index, im_index, im_sign = layout
    M = re_index.shape[0]
    dtype = torch.complex128 if packed.dtype == torch.float64 else torch.complex64
    out = torch.empty(*packed.shape[:-1], M, M, dtype=dtype)
    _packed_kernels()[3](packed.reshape(-1, M * M).contiguous().numpy(), re_index.numpy(), im_index.numpy(),
                         im_sign.to(packed.dtype).numpy(), out.numpy().reshape(-1, M, M))
    return out


def applies_to_nmf(basis: torch.Tensor, activation: torch.Tensor, power: torch.Tensor) -> bool:
    """The NMF kernel takes contiguous CPU float32/float64 factors and power outside autograd."""
    return (applies_to_reals(basis, activation, power) and basis.is_contiguous() and activation.is_contiguous())


@functools.lru_cache(maxsize=None)
def _nmf_kernel(n_basis: int):
    """The fused multiplicative IS-NMF update for ``n_basis`` bases (a constant of the loops)."""
    import numba
    import numpy as np

    K = n_basis

    # reassociated sums (vectorised): the result depends on the machine's vector width only
    @_njit(numba, nogil=True, fastmath={"reassoc", "contract", "nsz", "arcp"})
    def nmf_update(basis, activation, power, out, eps, update_bases):
        """Bases ``[S, F, K]`` (unless ``update_bases`` is False), then activations ``[S, K, T]``, in
        place, for powers ``[S, F, T]``; ``out [S, F, T] <- basis @ activation``."""
        S, F, T = power.shape
        one, zero, floor = power.dtype.type(1.0), power.dtype.type(0.0), power.dtype.type(eps)
        inverse = np.empty(T, dtype=power.dtype)  # 1 / r of one frequency
        weighted = np.empty(T, dtype=power.dtype)  # |y|^2 / r^2 of one frequency
        numerator = np.empty((K, T), dtype=power.dtype)
        denominator = np.empty((K, T), dtype=power.dtype)
        for s in range(S):
            if update_bases:  # B_fk *= sqrt(sum_t A_kt P_ft / r_ft^2 / sum_t A_kt / r_ft)
                for f in range(F):
                    for t in range(T):
                        r = basis[s, f, 0] * activation[s, 0, t]
                        for k in range(1, K):
                            r += basis[s, f, k] * activation[s, k, t]
                        inverse[t] = one / r
                        weighted[t] = power[s, f, t] * inverse[t] * inverse[t]
                    for k in range(K):
                        num, den = zero, zero
                        for t in range(T):
                            num += activation[s, k, t] * weighted[t]
                            den += activation[s, k, t] * inverse[t]
                        basis[s, f, k] = max(basis[s, f, k] * np.sqrt(num / den), floor)
            numerator[:] = zero  # A_kt *= sqrt(sum_f B_fk P_ft / r_ft^2 / sum_f B_fk / r_ft), new bases
            denominator[:] = zero
            for f in range(F):
                for t in range(T):
                    r = basis[s, f, 0] * activation[s, 0, t]
                    for k in range(1, K):
                        r += basis[s, f, k] * activation[s, k, t]
                    inverse[t] = one / r
                    weighted[t] = power[s, f, t] * inverse[t] * inverse[t]
                for k in range(K):
                    b = basis[s, f, k]
                    for t in range(T):
                        numerator[k, t] += b * weighted[t]
                        denominator[k, t] += b * inverse[t]
            for k in range(K):
                for t in range(T):
                    activation[s, k, t] = max(activation[s, k, t] * np.sqrt(numerator[k, t] / denominator[k, t]), floor)
            for f in range(F):
                for t in range(T):
                    r = basis[s, f, 0] * activation[s, 0, t]
                    for k in range(1, K):
                        r += basis[s, f, k] * activation[s, k, t]
                    out[s, f, t] = r

    return nmf_update


def nmf_update(basis: torch.Tensor, activation: torch.Tensor, power: torch.Tensor, eps: float,
               update_bases: bool = True) -> torch.Tensor:
    """One multiplicative IS-NMF update of ILRMA's model in three passes over the spectrogram
    (check :func:`applies_to_nmf` first; measured 2.2x / 1.8x faster than torch's dozen passes at
    N = 2 / 3).

    The same steps as :meth:`~asteroid_mvae.separation.source_models.NMF.update`: the bases (unless
    ``update_bases`` is False), then the activations with the new bases, each floored at ``eps``.

    Args:
        basis: ``[batch, src, freq, K]``; activation: ``[batch, src, K, frames]`` (both updated in
            place); power: ``[batch, src, freq, frames]``.
    Returns:
        The new variances ``basis @ activation``: ``[batch, src, freq, frames]``.
    """
    B, N, F, K = basis.shape
    T = activation.shape[-1]
    out = torch.empty(B, N, F, T, dtype=power.dtype)
    _nmf_kernel(K)(basis.numpy().reshape(B * N, F, K), activation.numpy().reshape(B * N, K, T),
                   power.contiguous().numpy().reshape(B * N, F, T), out.numpy().reshape(B * N, F, T), eps,
                   update_bases)
    return out
