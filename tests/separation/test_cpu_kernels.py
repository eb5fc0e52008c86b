"""The compiled CPU kernels against the batched torch updates they replace."""

import pytest
import torch
from test_spatial import random_problem
from torch._subclasses.fake_tensor import FakeTensorMode

from asteroid_mvae.separation import cpu_kernels, spatial
from asteroid_mvae.separation.engine import separate
from asteroid_mvae.separation.source_models import NMF, LaplaceIVA


@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
@pytest.mark.parametrize("M", [2, 3, 4, 5, 8])
def test_ip1_kernel_equals_the_batched_solves(M, dtype):
    _, W, _, V = random_problem(M=M, F=33)
    W, V = W.to(dtype), V.to(dtype)
    assert cpu_kernels.applies_to_ip1(W, V)
    expected = spatial.ip1_sweep_batched(W, V)
    tol = 1e-4 if dtype == torch.complex64 else 1e-11
    assert torch.allclose(cpu_kernels.ip1_sweep(W, V), expected, rtol=tol, atol=tol)


def test_ip1_kernel_split_over_threads_gives_the_same_bytes(monkeypatch):
    _, W, _, V = random_problem(M=3, F=64)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = cpu_kernels.ip1_sweep(W, V)
        torch.set_num_threads(2)
        monkeypatch.setattr(cpu_kernels, "PARALLEL_WORK", 1)  # split even this small problem
        two = cpu_kernels.ip1_sweep(W, V)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, two)


def test_ip1_kernel_leaves_its_inputs_alone_and_reads_conjugate_views():
    _, W, _, V = random_problem(M=2)
    W0, V0 = W.clone(), V.clone()
    out = cpu_kernels.ip1_sweep(W.conj().conj(), V.mH.mH)  # lazy conjugation bits
    assert torch.equal(W, W0) and torch.equal(V, V0)
    assert torch.allclose(out, spatial.ip1_sweep_batched(W, V), atol=1e-11)


def test_kernels_apply_only_to_plain_cpu_tensors(monkeypatch):
    _, W, _, V = random_problem(M=2)
    assert cpu_kernels.applies_to_ip1(W, V)
    assert not cpu_kernels.applies_to_ip1(W.requires_grad_(), V)  # autograd: torch's ops
    W = W.detach()
    assert not cpu_kernels.applies_to_ip1(W, V.to(torch.complex64))  # mixed dtypes
    assert not cpu_kernels.applies_to_ip1(W.real, V)
    _, W9, _, V9 = random_problem(M=9, F=2)
    assert not cpu_kernels.applies_to_ip1(W9, V9)  # no kernel beyond MAX_MICS
    with FakeTensorMode():
        fake = torch.empty(2, 3, 2, 2, dtype=torch.complex128)
        assert not cpu_kernels.applies_to_ip1(fake, fake[..., None].expand(2, 3, 2, 2, 2))
    monkeypatch.setenv("ASTEROID_MVAE_KERNELS", "0")
    assert not cpu_kernels.applies_to_ip1(W, V)


@pytest.mark.parametrize("model", [LaplaceIVA, lambda: NMF(n_basis=2)], ids=["laplace", "nmf"])
def test_engine_separates_the_same_with_and_without_kernels(model, monkeypatch):
    X, _, _, _ = random_problem(B=1, F=17, M=2, T=60)
    mix = X.transpose(1, 2).to(torch.complex64)  # [batch, mics, freq, frames]
    compiled = separate(mix, model(), n_iter=15)
    monkeypatch.setenv("ASTEROID_MVAE_KERNELS", "0")
    batched = separate(mix, model(), n_iter=15)
    scale = batched.estimates.abs().amax()
    assert (compiled.estimates - batched.estimates).abs().amax() < 1e-3 * scale
    assert torch.allclose(compiled.objective, batched.objective, rtol=1e-4)


@pytest.mark.parametrize("shared", [False, True], ids=["per-frequency", "shared"])
@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
@pytest.mark.parametrize("M", [2, 3, 6])
def test_packed_kernels_equal_the_batched_products(M, dtype, shared, monkeypatch):
    X, W, weights, _ = random_problem(M=M, F=9)
    X, W = X.to(dtype), W.to(dtype)
    weights = weights.to(X.real.dtype)[:, :, :1] if shared else weights.to(X.real.dtype)
    xx = spatial.outer_products(X)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)  # where the kernels run at every M
    assert cpu_kernels.applies_to_packed(xx, weights)
    sums, power = spatial.packed_weighted_sums(xx, weights), spatial.packed_output_power(W, xx)
    covariances = spatial.weighted_covariances(xx, weights, M, diag_load=1e-3, floor=1e-6)
    monkeypatch.setenv("ASTEROID_MVAE_KERNELS", "0")
    tol = 1e-5 if dtype == torch.complex64 else 1e-12
    assert torch.allclose(sums, spatial.packed_weighted_sums(xx, weights), rtol=tol, atol=tol * sums.abs().amax())
    expected = spatial.packed_output_power(W, xx)
    assert power.is_contiguous() and power.shape == expected.shape
    assert torch.allclose(power, expected, rtol=tol, atol=tol * expected.amax()) and (power >= 0).all()
    expected = spatial.weighted_covariances(xx, weights, M, diag_load=1e-3, floor=1e-6)  # unpacked by torch
    assert covariances.dtype == expected.dtype and torch.allclose(covariances, expected, rtol=tol, atol=tol)
    assert torch.equal(covariances, covariances.mH)


def test_kernels_compile_without_a_writable_cache(caplog, monkeypatch):
    """Read-only installs: numba refuses ``cache=True`` at decoration; the kernel is compiled per process."""
    import numba

    from asteroid_mvae.separation import _numba_kernels

    class NoCache:
        @staticmethod
        def njit(cache=False, **options):
            if cache:
                raise RuntimeError("cannot cache function 'twice': no locator available for file")
            return numba.njit(**options)

    def twice(x):
        return 2 * x

    monkeypatch.setattr(_numba_kernels, "numba", NoCache)
    assert _numba_kernels._njit(nogil=True)(twice)(21) == 42
    assert "compiled in every process" in caplog.text


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("n_basis", [1, 2, 5])
def test_nmf_kernel_equals_the_torch_updates(n_basis, dtype, monkeypatch):
    power = torch.rand(2, 3, 17, 40, dtype=dtype, generator=torch.Generator().manual_seed(0)) ** 4
    compiled, batched = NMF(n_basis=n_basis), NMF(n_basis=n_basis)
    compiled.reset(power)
    batched.reset(power)
    assert cpu_kernels.applies_to_nmf(compiled.basis, compiled.activation, power)
    tol = 1e-4 if dtype == torch.float32 else 1e-11
    for _ in range(5):
        with monkeypatch.context() as torch_only:
            torch_only.setenv("ASTEROID_MVAE_KERNELS", "0")
            expected = batched.update(power)
        assert torch.allclose(compiled.update(power), expected, rtol=tol)
    assert torch.allclose(compiled.basis, batched.basis, rtol=tol)
    assert torch.allclose(compiled.activation, batched.activation, rtol=tol)


def test_supervised_nmf_kernel_keeps_the_bases(monkeypatch):
    from asteroid_mvae.separation.source_models import SupervisedNMF

    power = torch.rand(1, 2, 9, 30, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    bases = torch.rand(2, 9, 3, dtype=torch.float64) + 0.1
    compiled, batched = SupervisedNMF(bases), SupervisedNMF(bases)
    compiled.reset(power)
    batched.reset(power)
    monkeypatch.setenv("ASTEROID_MVAE_KERNELS", "0")
    expected = batched.update(power)
    monkeypatch.delenv("ASTEROID_MVAE_KERNELS")
    assert torch.allclose(compiled.update(power), expected, rtol=1e-11)
    assert torch.equal(compiled.basis, batched.basis)


@pytest.mark.parametrize("name, n_mics", [("ilrma", 4), ("auxiva", 3), ("fastmvae2", 4)])
def test_bytes_do_not_depend_on_the_thread_count(name, n_mics, room):
    """One and two torch threads give the same estimates (kernels split frequencies; the engine's
    per-mixture means are not split across threads)."""
    from asteroid_mvae.models import load_model

    mix = torch.as_tensor(room(2, 0.3, seconds=3.0, seed=3, n_mics=n_mics)[0])[None]
    threads, outputs = torch.get_num_threads(), []
    try:
        for count in (1, 2):
            torch.set_num_threads(count)
            torch.manual_seed(0)
            extra = {"refine_steps": 1} if name == "fastmvae2" else {}
            model = load_model(name, n_iter=3, n_src=2, allow_untrained=True, **extra).eval()
            with torch.no_grad():
                outputs.append(model(mix))
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(outputs[0], outputs[1])
