"""Compiled CPU kernels (numba) of the engine's small per-frequency steps.

An IP sweep solves ``B * F * N`` tiny systems (``M <= 8``). Through torch each row is one batched
LAPACK call plus a dozen batched elementwise ops, and at ``M = 2`` the per-op overhead is most of
the time. Here one compiled loop over frequencies does a row's whole update in registers, in
double precision whatever the input dtype, with ``M`` a compile-time constant (one specialisation
per ``M``): faster than the batched solves at every ``M`` up to 8 (closed forms at ``M = 2, 3``,
``w = V_n^{-1} W^{-1} e_n`` by LU and Cholesky beyond; ``docs/benchmarks.md``). ILRMA's NMF update
runs in three fused passes; the covariance, output
power and Hermitian unpacking loops replace torch's ``B * F`` tiny matrix products where that
pays. The torch code stays the reference and runs everywhere else (GPU, fake tensors, autograd,
``M > 8``); tests hold the two to the same results. The kernels themselves live in
:mod:`._numba_kernels`, imported on first use.

Set ``ASTEROID_MVAE_KERNELS=0`` to use torch only. Compiled code is cached on disk (numba's
cache), so only the first process pays the compilation (seconds); later ones load it in about
0.3 s.
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
    return os.environ.get("ASTEROID_MVAE_KERNELS", "1") != "0" and _kernels() is not None


def _plain_cpu(tensors, dtypes) -> bool:
    """Real (not fake) CPU tensors of one dtype among ``dtypes``, outside autograd."""
    return all(
        t.device.type == "cpu"
        and t.dtype in dtypes
        and t.dtype == tensors[0].dtype
        and not t.requires_grad
        and not isinstance(t, torch._subclasses.FakeTensor)
        for t in tensors
    )


def applies_to_ip1(W: torch.Tensor, *others: torch.Tensor) -> bool:
    """The IP kernel takes CPU complex tensors of one dtype outside autograd, ``2 <= M <= 8``."""
    return _plain_cpu((W, *others), _DTYPES) and 2 <= W.shape[-1] <= MAX_MICS and enabled()


@functools.lru_cache(maxsize=None)
def _kernels():
    """The numba kernels' module, imported on first use (None without numba)."""
    try:
        from . import _numba_kernels
    except ImportError:  # pragma: no cover - numba is a dependency; torch remains the fallback
        log.warning("numba is not importable: the engine uses its torch updates on the CPU")
        return None
    return _numba_kernels


@functools.lru_cache(maxsize=1)
def _pool(pid: int) -> ThreadPoolExecutor:
    """This process's worker threads (keyed by pid: a forked child never reuses its parent's)."""
    return ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="asteroid-mvae-ip")


#: below this many frequency rows times M^3 one thread does the sweep (a thread hand-off costs ~50 us)
PARALLEL_WORK = 2**14


def ip1_sweep(W: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """As :func:`~asteroid_mvae.separation.spatial.ip1_sweep`, compiled (check :func:`applies_to_ip1` first).

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
    run_in_row_ranges(_kernels().ip1_range(M), B * F, N * M**3, w, v)
    return W


def run_in_row_ranges(kernel, rows: int, work_per_row: int, *arrays) -> None:
    """``kernel(*arrays, start, stop)`` over ``[0, rows)``, split into contiguous ranges for up to
    ``torch.get_num_threads()`` threads where the work pays for the hand-off.

    The kernels compute each row on its own, so the result is the same for any split (the same
    bytes whatever the thread count)."""
    threads = min(torch.get_num_threads(), max(1, rows * work_per_row // PARALLEL_WORK))
    if threads == 1:
        kernel(*arrays, 0, rows)
        return
    bounds = [rows * i // threads for i in range(threads + 1)]
    jobs = [_pool(os.getpid()).submit(kernel, *arrays, a, b) for a, b in zip(bounds[1:-1], bounds[2:])]
    kernel(*arrays, 0, bounds[1])
    for job in jobs:
        job.result()


def applies_to_reals(*tensors: torch.Tensor) -> bool:
    """CPU float32/float64 tensors of one dtype outside autograd (kernels enabled)."""
    return _plain_cpu(tensors, (torch.float32, torch.float64)) and enabled()


def applies_to_packed(xx: torch.Tensor, weights: torch.Tensor = None) -> bool:
    """The packed covariance/power kernels take CPU float32/float64 tensors of one dtype outside
    autograd. The choice never depends on the thread count (torch's products and these loops round
    differently, so a choice by thread count would make the bytes depend on it); the loops run
    over frequency ranges in parallel threads (:func:`run_in_row_ranges`)."""
    return applies_to_reals(xx, *([] if weights is None else [weights]))


def packed_weighted_sums(xx: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """As :func:`~asteroid_mvae.separation.spatial.packed_weighted_sums` (weights ``[batch, src,
    freq or 1, frames]``). Returns ``[batch, freq, src, M^2]``."""
    B, N = weights.shape[:2]
    BF, MM, T = xx.shape
    out = torch.empty(B, BF // B, N, MM, dtype=xx.dtype)
    run_in_row_ranges(
        _kernels().weighted_sums,
        BF,
        N * MM * T // 8,
        xx.contiguous().numpy(),
        weights.contiguous().numpy(),
        out.numpy(),
    )
    return out


def packed_quadratic_forms(coeffs: torch.Tensor, xx: torch.Tensor) -> torch.Tensor:
    """``max(0, coeffs @ xx)`` per frequency, written as ``[batch, src, freq, frames]`` (no transposed
    copy). Args: coeffs ``[batch, freq, src, M^2]``; xx ``[batch * freq, M^2, frames]``."""
    B, F, N, MM = coeffs.shape
    T = xx.shape[-1]
    out = torch.empty(B, N, F, T, dtype=xx.dtype)
    run_in_row_ranges(
        _kernels().quadratic_forms,
        B * F,
        N * MM * T // 8,
        coeffs.reshape(B * F, N, MM).contiguous().numpy(),
        xx.contiguous().numpy(),
        out.numpy(),
    )
    return out


def unpack_hermitian(packed: torch.Tensor, layout) -> torch.Tensor:
    """As :func:`~asteroid_mvae.separation.spatial.unpack_hermitian`, given its ``hermitian_layout``."""
    _, _, re_index, im_index, im_sign = layout
    M = re_index.shape[0]
    dtype = torch.complex128 if packed.dtype == torch.float64 else torch.complex64
    out = torch.empty(*packed.shape[:-1], M, M, dtype=dtype)
    _kernels().unpack(
        packed.reshape(-1, M * M).contiguous().numpy(),
        re_index.numpy(),
        im_index.numpy(),
        im_sign.to(packed.dtype).numpy(),
        out.numpy().reshape(-1, M, M),
    )
    return out


def applies_to_nmf(basis: torch.Tensor, activation: torch.Tensor, power: torch.Tensor) -> bool:
    """The NMF kernel takes contiguous CPU float32/float64 factors and power outside autograd."""
    return applies_to_reals(basis, activation, power) and basis.is_contiguous() and activation.is_contiguous()


def variance_floor(dtype: torch.dtype) -> float:
    """The floor of the NMF variances in its updates' weights, ``eps(dtype)^2`` (1.4e-14 in float32):
    ``|y|^2 / r^2`` stays finite where both factors sit at their floor (``r = K eps^2``), which
    overflowed float32 to ``inf * 0 = nan`` when an output was silent in a bin."""
    return torch.finfo(dtype).eps ** 2


def nmf_update(
    basis: torch.Tensor, activation: torch.Tensor, power: torch.Tensor, eps: float, update_bases: bool = True
) -> torch.Tensor:
    """One multiplicative IS-NMF update of ILRMA's model in three passes over the spectrogram
    (check :func:`applies_to_nmf` first; faster than torch's dozen passes).

    The same steps as :meth:`~asteroid_mvae.separation.source_models.NMF.update`: the bases (unless
    ``update_bases`` is False), then the activations with the new bases, each floored at ``eps``;
    the variances in the weights floored at :func:`variance_floor`.

    Args:
        basis: ``[batch, src, freq, K]``; activation: ``[batch, src, K, frames]`` (both updated in
            place); power: ``[batch, src, freq, frames]``.
    Returns:
        The new variances ``basis @ activation``: ``[batch, src, freq, frames]``.
    """
    B, N, F, K = basis.shape
    T = activation.shape[-1]
    out = torch.empty(B, N, F, T, dtype=power.dtype)
    _kernels().nmf_update(K)(
        basis.numpy().reshape(B * N, F, K),
        activation.numpy().reshape(B * N, K, T),
        power.contiguous().numpy().reshape(B * N, F, T),
        out.numpy().reshape(B * N, F, T),
        eps,
        variance_floor(power.dtype),
        update_bases,
    )
    return out
