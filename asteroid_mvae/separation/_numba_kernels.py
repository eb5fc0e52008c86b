"""The numba kernels behind :mod:`.cpu_kernels` (imported on first use: numba loads only then).

Every jitted function here is module-level, or a closure over plain integers only (``M``, ``K``),
so that numba's on-disk cache recognises it in the next process (a closure over a dispatcher
would be recompiled by every process).
"""

import functools
import logging

import numba
import numpy as np

log = logging.getLogger(__name__)


def _njit(**options):
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


_inline = _njit(nogil=True, inline="always")  # helpers: compiled into their callers


@_inline
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


@_inline
def inverse_column(A, n, b):
    """``b <- A^{-1} e_n`` for ``2 x 2`` and ``3 x 3`` ``A``: column ``n`` of the adjugate over the determinant."""
    M = A.shape[0]
    if M == 2:
        det = A[0, 0] * A[1, 1] - A[0, 1] * A[1, 0]
        inverse = det.conjugate() * (1.0 / (det.real**2 + det.imag**2))
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
        inverse = det.conjugate() * (1.0 / (det.real**2 + det.imag**2))
        for m in range(3):
            b[m] *= inverse


@_inline
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


@_inline
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


@functools.lru_cache(maxsize=None)
def ip1_range(M: int):
    """The IP1 kernel for ``M`` microphones (``M`` a constant of its loops):
    ``kernel(W [K, N, M], V [K, N, M, M], start, stop)`` updates frequencies ``start:stop`` of ``W``."""

    @_njit(nogil=True)  # nogil: frequency ranges run in parallel threads
    def kernel(W, V, start, stop):
        A = np.empty((M, M), dtype=np.complex128)
        b = np.empty(M, dtype=np.complex128)
        u = np.empty(M, dtype=np.complex128)
        for k in range(start, stop):
            ip1_frequency(W, V, k, A, b, u)

    return kernel


# reassociated sums over frames (vectorised): the result depends on the machine's vector width only
_sums = _njit(nogil=True, fastmath={"reassoc", "contract", "nsz"})


@_sums
def weighted_sums(xx, weights, out, start, stop):
    """``out[b, f, n, k] = sum_t weights[b, n, f, t] xx[b F + f, k, t]`` for the rows ``b F + f`` in
    ``[start, stop)``; ``weights [B, N, F or 1, T]`` (one row of weights for every frequency: IVA).
    Each row's sums do not depend on the range, so any split over threads gives the same bytes."""
    F, N = out.shape[1:3]
    T = xx.shape[2]
    for r in range(start, stop):
        b, f = r // F, r % F
        fw = f if weights.shape[2] > 1 else 0
        for k in range(xx.shape[1]):
            for n in range(N):
                total = xx.dtype.type(0.0)
                for t in range(T):
                    total += weights[b, n, fw, t] * xx[r, k, t]
                out[b, f, n, k] = total


@_njit(nogil=True, fastmath={"contract"})
def quadratic_forms(coeffs, xx, out, start, stop):
    """``out[b, n, f, t] = max(0, sum_k coeffs[b F + f, n, k] xx[b F + f, k, t])`` for the rows
    ``b F + f`` in ``[start, stop)``."""
    N, F, T = out.shape[1:]
    for r in range(start, stop):
        b, f = r // F, r % F
        for n in range(N):
            c = coeffs[r, n]
            for t in range(T):
                out[b, n, f, t] = c[0] * xx[r, 0, t]
            for k in range(1, xx.shape[1]):
                for t in range(T):
                    out[b, n, f, t] += c[k] * xx[r, k, t]
            for t in range(T):
                out[b, n, f, t] = max(out[b, n, f, t], 0.0)


@_njit(nogil=True)
def unpack(packed, re_index, im_index, im_sign, out):
    """``out[r, i, j] = packed[r, re_index[i, j]] + 1j * im_sign[i, j] * packed[r, im_index[i, j]]``."""
    M = out.shape[1]
    for r in range(packed.shape[0]):
        for i in range(M):
            for j in range(M):
                out[r, i, j] = complex(packed[r, re_index[i, j]], im_sign[i, j] * packed[r, im_index[i, j]])


@_inline
def nmf_variance(basis, activation, s, f, t, K):
    """``r = sum_k basis[s, f, k] activation[s, k, t]``."""
    r = basis[s, f, 0] * activation[s, 0, t]
    for k in range(1, K):
        r += basis[s, f, k] * activation[s, k, t]
    return r


@_inline
def nmf_weights(basis, activation, power, s, f, K, inverse, weighted, r_floor):
    """``inverse = 1 / r`` and ``weighted = |y|^2 / r^2`` over the frames of frequency ``f``, ``r``
    floored at ``r_floor`` (``1 / r^2`` stays finite)."""
    one = power.dtype.type(1.0)
    for t in range(power.shape[2]):
        inverse[t] = one / max(nmf_variance(basis, activation, s, f, t, K), r_floor)
        weighted[t] = power[s, f, t] * inverse[t] * inverse[t]


@functools.lru_cache(maxsize=None)
def nmf_update(K: int):
    """The fused multiplicative IS-NMF update for ``K`` bases (a constant of its loops)."""

    # reassociated sums (vectorised): the result depends on the machine's vector width only
    @_njit(nogil=True, fastmath={"reassoc", "contract", "nsz", "arcp"})
    def nmf_update(basis, activation, power, out, eps, r_floor, update_bases):
        """Bases ``[S, F, K]`` (unless ``update_bases`` is False), then activations ``[S, K, T]``, in
        place, for powers ``[S, F, T]``; ``out [S, F, T] <- basis @ activation``."""
        S, F, T = power.shape
        zero, floor, r_min = power.dtype.type(0.0), power.dtype.type(eps), power.dtype.type(r_floor)
        inverse = np.empty(T, dtype=power.dtype)  # 1 / r of one frequency
        weighted = np.empty(T, dtype=power.dtype)  # |y|^2 / r^2 of one frequency
        numerator = np.empty((K, T), dtype=power.dtype)
        denominator = np.empty((K, T), dtype=power.dtype)
        for s in range(S):
            if update_bases:  # B_fk *= sqrt(sum_t A_kt P_ft / r_ft^2 / sum_t A_kt / r_ft)
                for f in range(F):
                    nmf_weights(basis, activation, power, s, f, K, inverse, weighted, r_min)
                    for k in range(K):
                        num, den = zero, zero
                        for t in range(T):
                            num += activation[s, k, t] * weighted[t]
                            den += activation[s, k, t] * inverse[t]
                        basis[s, f, k] = max(basis[s, f, k] * np.sqrt(num / den), floor)
            numerator[:] = zero  # A_kt *= sqrt(sum_f B_fk P_ft / r_ft^2 / sum_f B_fk / r_ft), new bases
            denominator[:] = zero
            for f in range(F):
                nmf_weights(basis, activation, power, s, f, K, inverse, weighted, r_min)
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
                    out[s, f, t] = nmf_variance(basis, activation, s, f, t, K)

    return nmf_update
