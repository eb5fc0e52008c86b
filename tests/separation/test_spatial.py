"""The batched spatial updates against plain per-frequency float64 implementations."""

import numpy as np
import pytest
import torch

from asteroid_mvae.separation import spatial


def random_problem(B=2, F=5, M=3, T=40, seed=0):
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(B, F, M, T, dtype=torch.complex128, generator=gen)
    W = torch.randn(B, F, M, M, dtype=torch.complex128, generator=gen) + 2 * torch.eye(M)
    weights = torch.rand(B, M, F, T, dtype=torch.float64, generator=gen) + 0.1  # [B, src, F, T]
    V = spatial.weighted_covariances(spatial.outer_products(X), weights, M)
    return X, W, weights, V


def surrogate(W, V):
    """``-2 log|det W_f| + sum_n w_n^H V_n w_n`` per (batch, freq)."""
    quad = torch.einsum("bfnm,bfnmk,bfnk->bf", W, V, W.conj()).real
    return -2 * torch.linalg.slogdet(W)[1] + quad


@pytest.mark.parametrize("M", [2, 3, 8])
def test_weighted_covariance_matches_definition(M):
    X, _, weights, V = random_problem(M=M)
    ref = torch.einsum("bnft,bfmt,bfkt->bfnmk", weights.to(X.dtype), X, X.conj()) / X.shape[-1]
    assert torch.allclose(V, ref, atol=1e-12)


def test_diagonal_loading_adds_a_fraction_of_the_trace():
    X, _, weights, V = random_problem(M=3)
    loaded = spatial.weighted_covariances(spatial.outer_products(X), weights, 3, diag_load=0.1, floor=1e-3)
    trace = torch.diagonal(V, dim1=-2, dim2=-1).real.sum(-1)
    expected = V + (0.1 * trace / 3 + 1e-3)[..., None, None] * torch.eye(3)
    assert torch.allclose(loaded, expected, atol=1e-12)


@pytest.mark.parametrize("M", [2, 3])
def test_frequency_independent_weights_give_the_broadcast_covariances(M):
    X, _, weights, _ = random_problem(M=M)
    iva = weights[:, :, :1]  # [B, src, 1, T]: one matrix product over all frequencies
    xx = spatial.outer_products(X)
    expected = spatial.weighted_covariances(xx, iva.expand_as(weights).contiguous(), M)
    assert torch.allclose(spatial.weighted_covariances(xx, iva, M), expected, atol=1e-12)


@pytest.mark.parametrize("M", [2, 3, 8])
def test_packed_output_power_is_the_power_of_w_x(M):
    X, W, _, _ = random_problem(M=M)
    expected = (W @ X).abs().square().transpose(1, 2)  # [B, src, F, T]
    power = spatial.packed_output_power(W, spatial.outer_products(X))
    assert power.is_contiguous() and torch.allclose(power, expected, atol=1e-10)


@pytest.mark.parametrize("M", [2, 3])
def test_log_abs_det_matches_slogdet(M):
    _, W, _, _ = random_problem(M=M)
    assert torch.allclose(spatial.log_abs_det(W), torch.linalg.slogdet(W)[1].sum(-1), atol=1e-10)


@pytest.mark.parametrize("scale", [1e-20, 1e15])
def test_extreme_scales_in_float32(scale):
    """A silent bin gives V ~ 1e-19: the 2x2 determinant must not underflow (nor overflow),
    and the IP update must stay finite and equal to its float64 value."""
    _, W, _, V = random_problem(M=2)
    W32 = (W * scale).to(torch.complex64)
    assert torch.allclose(spatial.log_abs_det(W32), torch.linalg.slogdet(W32)[1].sum(-1), rtol=1e-5)
    expected = spatial.ip1_sweep(W, V * scale)
    ours = spatial.ip1_sweep(W.to(torch.complex64), (V * scale).to(torch.complex64))
    assert torch.isfinite(ours).all() and torch.allclose(ours.to(expected.dtype), expected, rtol=1e-3, atol=0)


@pytest.mark.parametrize("M", [2, 3, 4, 8])
@pytest.mark.parametrize("sweep", [spatial.ip1_sweep, spatial.ip1_sweep_batched], ids=["compiled", "batched"])
def test_ip1_equals_plain_per_frequency_loop(M, sweep):
    _, W, _, V = random_problem(M=M)
    ours = sweep(W, V).numpy()
    W, V = W.numpy(), V.numpy()
    for b in range(W.shape[0]):
        for f in range(W.shape[1]):
            Wf = W[b, f].copy()
            for n in range(Wf.shape[0]):
                w = np.linalg.solve(Wf @ V[b, f, n], np.eye(Wf.shape[0])[:, n])
                w = w / np.sqrt(np.real(w.conj() @ V[b, f, n] @ w))
                Wf[n] = w.conj()
            np.testing.assert_allclose(ours[b, f], Wf, atol=1e-10)


@pytest.mark.parametrize("M", [2, 3, 4, 8])
def test_ip2_pair_update_is_the_exact_block_minimum(M):
    """After IP2 the stationarity conditions of both rows of every pair hold exactly,
    and the surrogate is not above what IP1 reaches from the same start."""
    _, W, _, V = random_problem(M=M, T=80)
    W2 = spatial.ip2_sweep(W, V)
    assert torch.all(surrogate(W2, V) <= surrogate(W, V) + 1e-9)
    if M == 2:
        assert torch.all(surrogate(W2, V) <= surrogate(spatial.ip1_sweep(W, V), V) + 1e-9)
        # KKT: w_k^H V_k w_l = delta_kl for the pair (the block minimum)
        G = torch.einsum("bfkm,bfkmj,bflj->bfkl", W2, V, W2.conj())  # rows k, metric V_k
        assert torch.allclose(G, torch.eye(2, dtype=G.dtype).expand_as(G), atol=1e-9)


def test_iss_keeps_y_equal_to_w_x_and_lowers_the_surrogate():
    X, W, weights, V = random_problem(M=4)
    W1, Y1 = spatial.iss_sweep(W, W @ X, weights.transpose(1, 2))
    assert torch.allclose(Y1, W1 @ X, atol=1e-10)
    assert torch.all(surrogate(W1, V) <= surrogate(W, V) + 1e-9)


def test_projection_back_recovers_the_reference_image():
    """With the true demixing matrix, projection back returns each source's image at mic 0."""
    gen = torch.Generator().manual_seed(1)
    A = torch.randn(1, 3, 2, 2, dtype=torch.complex128, generator=gen)  # mixing [B, F, M, N]
    S = torch.randn(1, 3, 2, 50, dtype=torch.complex128, generator=gen)
    W = torch.linalg.inv(A) * torch.tensor([3.0, -0.5], dtype=torch.complex128)[:, None]  # any scale
    images = spatial.projection_back(W @ (A @ S), W, ref_mic=0)
    assert torch.allclose(images, A[:, :, 0, :, None] * S, atol=1e-10)


def test_least_squares_images_equal_projection_back_for_square_demixing():
    from asteroid_mvae.separation.spatial import least_squares_images, pca_reduction, projection_back

    torch.manual_seed(0)
    X = torch.randn(2, 3, 5, 40, dtype=torch.complex128)  # [batch, mics, freq, frames]
    W = torch.randn(2, 5, 3, 3, dtype=torch.complex128)
    Y = W @ X.transpose(1, 2)  # [batch, freq, src, frames]
    expected = projection_back(Y, W, ref_mic=1).transpose(1, 2)
    torch.testing.assert_close(least_squares_images(Y.transpose(1, 2), X[:, 1]), expected)
    P = pca_reduction(X, 2)
    torch.testing.assert_close(P @ P.mH, torch.eye(2, dtype=P.dtype).expand(2, 5, 2, 2))


@pytest.mark.parametrize("scale", [1e-20, 1e15])
def test_log_abs_det_3x3_at_extreme_scales_in_float32(scale):
    _, W, _, _ = random_problem(M=3)
    W32 = (W * scale).to(torch.complex64)
    expected = torch.linalg.slogdet(W)[1].sum(-1) + W.shape[1] * 3 * np.log(scale)
    assert torch.allclose(spatial.log_abs_det(W32).to(expected.dtype), expected, rtol=1e-5)


@pytest.mark.parametrize("M", [2, 6])
def test_mixture_frames_whole_and_blocks_agree_with_the_definitions(M):
    """Covariances (packed products, whole or per block) and output powers (packed up to 4
    microphones, |W X|^2 beyond) equal their definitions, per frequency and pooled."""
    gen = torch.Generator().manual_seed(M)
    X = torch.randn(2, 5, M, 13, dtype=torch.complex128, generator=gen)
    W = torch.randn(2, 5, M, M, dtype=torch.complex128, generator=gen)
    weights = torch.rand(2, M, 5, 13, dtype=torch.float64, generator=gen)
    V = torch.einsum("bnft,bfmt,bfkt->bfnmk", weights, X, X.conj()) / 13
    V_shared = torch.einsum("bnt,bfmt,bfkt->bfnmk", weights[:, :, 0], X, X.conj()) / 13  # frame weights of bin 0
    power = (W @ X).abs().square().transpose(1, 2)  # [B, N, F, T]
    for frames in (spatial.MixtureFrames(X), spatial.MixtureFrames(X, block_frames=4)):
        assert torch.allclose(frames.covariances(weights), V, atol=1e-12)
        assert torch.allclose(frames.covariances(weights[:, :, :1]), V_shared, atol=1e-12)
        assert torch.allclose(frames.output_power(W), power, atol=1e-12)
        assert torch.allclose(frames.pooled_output_power(W), power.sum(2, keepdim=True), atol=1e-12)
    assert spatial.MixtureFrames(X).packed_power == (M <= 4)
