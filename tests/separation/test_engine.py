"""The engine on simulated rooms: it separates, and MM algorithms never raise J."""

import numpy as np
import pytest
import torch

from asteroid_mvae.separation import NMF, GaussIVA, LaplaceIVA, StftConfig, istft, separate, stft

MODELS = {"laplace": LaplaceIVA, "gauss": GaussIVA, "nmf": lambda: NMF(n_basis=2, seed=0)}


def mix_stft(room, n_src, rt60, dtype=torch.float32):
    mixture, references = room(n_src, rt60)
    return torch.from_numpy(mixture).to(dtype)[None], references, mixture


@pytest.mark.parametrize("update", ["ip1", "ip2", "iss"])
@pytest.mark.parametrize("model", sorted(MODELS))
def test_objective_never_increases(room, model, update):
    wav, _, _ = mix_stft(room, 3, 0.3, torch.float64)
    result = separate(stft(wav), MODELS[model](), n_iter=15, update=update, dtype=torch.complex128)
    J = result.objective[:, 0]
    assert torch.isfinite(J).all()
    assert torch.all(J[1:] <= J[:-1] + 1e-9 * J[:-1].abs()), J
    assert J[-1] < J[0]


def test_objective_is_reported_for_the_input_scale(room):
    """Scaling the input by c shifts J by exactly 2 T F M log c (W absorbs the scale)."""
    wav, _, _ = mix_stft(room, 2, 0.3, torch.float64)
    X = stft(wav)
    a = separate(X, NMF(seed=0), n_iter=3, dtype=torch.complex128)
    b = separate(10 * X, NMF(seed=0), n_iter=3, dtype=torch.complex128)
    _, M, F, T = X.shape
    assert torch.allclose(b.objective - a.objective, torch.tensor(2 * T * F * M * np.log(10.0), dtype=torch.float64))
    assert torch.allclose(b.estimates, 10 * a.estimates, rtol=1e-6, atol=1e-9)


def test_callback_sees_every_iteration_and_matches_history(room):
    wav, references, mixture = mix_stft(room, 2, 0.0)
    seen = []
    result = separate(
        stft(wav),
        LaplaceIVA(),
        n_iter=4,
        callback=lambda s: seen.append((s.iteration, s.objective.clone(), s.estimates(0))),
    )
    assert [it for it, _, _ in seen] == [0, 1, 2, 3, 4]
    assert torch.allclose(torch.stack([J for _, J, _ in seen]), result.objective)
    assert torch.allclose(seen[-1][2], result.estimates, atol=1e-4 * result.estimates.abs().max())


def test_batched_equals_one_by_one(room):
    """A batch of mixtures gives the same result as separating each alone."""
    wavs = torch.stack([torch.from_numpy(room(2, 0.3, seed=s)[0]) for s in (0, 1)])
    X = stft(wavs.double())
    both = separate(X, NMF(seed=3), n_iter=5, dtype=torch.complex128)
    # NMF draws its initial factors per batch entry, so compare with the same draws: AuxIVA has none.
    both = separate(X, LaplaceIVA(), n_iter=5, dtype=torch.complex128)
    for b in range(2):
        alone = separate(X[b : b + 1], LaplaceIVA(), n_iter=5, dtype=torch.complex128)
        assert torch.allclose(alone.estimates[0], both.estimates[b], atol=1e-8)
        assert torch.allclose(alone.objective[:, 0], both.objective[:, b])


def test_float32_and_float64_agree(room, sisdri):
    wav, references, mixture = mix_stft(room, 2, 0.3)
    cfg = StftConfig()
    scores = []
    for dtype in (torch.complex64, torch.complex128):
        est = separate(
            stft(wav.to(dtype.to_real() if hasattr(dtype, "to_real") else torch.float64)),
            LaplaceIVA(),
            n_iter=30,
            dtype=dtype,
        )
        scores.append(sisdri(istft(est.estimates, wav.shape[-1], cfg)[0].float(), references, mixture[0]))
    assert abs(scores[0] - scores[1]) < 0.05


def test_rejects_bad_arguments(room):
    wav, _, _ = mix_stft(room, 2, 0.0)
    X = stft(wav)
    with pytest.raises(ValueError, match="update"):
        separate(X, LaplaceIVA(), update="ip3")
    with pytest.raises(ValueError, match="complex"):
        separate(X.abs(), LaplaceIVA())
    with pytest.raises(ValueError, match="ref_mic"):
        separate(X, LaplaceIVA(), ref_mic=5)


@pytest.mark.parametrize("update", ["ip1", "ip2", "iss"])
def test_eight_channels(update):
    """N = M = 8 on independent Laplacian-like sources through a random mixing: J falls, the
    output is finite, and the demixing undoes the mixing (global matrix near a scaled permutation)."""
    gen = torch.Generator().manual_seed(0)
    B, M, F, T = 1, 8, 9, 400
    S = (
        torch.randn(B, F, M, T, dtype=torch.complex128, generator=gen)
        * torch.rand(B, 1, M, T, dtype=torch.float64, generator=gen) ** 3
    )
    A = torch.randn(B, F, M, M, dtype=torch.complex128, generator=gen)
    mix = (A @ S).transpose(1, 2)  # [B, M, F, T]
    result = separate(mix, LaplaceIVA(), n_iter=40, update=update, proj_back=False, dtype=torch.complex128)
    J = result.objective[:, 0]
    assert torch.isfinite(result.estimates).all() and torch.all(J[1:] <= J[:-1] + 1e-9 * J[:-1].abs())
    G = (result.demix @ A).abs() ** 2  # [B, F, N, M]
    dominance = G.max(-1).values / G.sum(-1)
    assert dominance.mean() > 0.9, dominance.mean()


@pytest.mark.parametrize("model, update", [("nmf", "ip1"), ("laplace", "ip2"), ("gauss", "iss")])
def test_frame_blocks_give_the_whole_computation(room, model, update, monkeypatch):
    """Covariances and output powers accumulated over blocks of frames (long recordings) equal
    the whole-signal computation; the automatic choice blocks once the packed outer products
    exceed the budget."""
    from asteroid_mvae.separation import spatial

    X = stft(torch.from_numpy(room(3, 0.3, seconds=2.0)[0]).double()[None], StftConfig(512, 256))
    run = lambda **kw: separate(X, MODELS[model](), n_iter=4, update=update, dtype=torch.complex128, **kw)
    whole, blocked = run(), run(block_frames=7)
    torch.testing.assert_close(blocked.estimates, whole.estimates, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(blocked.objective, whole.objective, rtol=1e-12, atol=1e-9)
    per_frame = X.shape[2] * 9 * 8  # freq * M^2 * float64 bytes
    monkeypatch.setattr(spatial, "PACKED_BYTES", 80 * per_frame)
    frames = spatial.MixtureFrames(X.transpose(1, 2).contiguous())
    assert frames.xx is None and frames.block == 5 and len(list(frames.blocks())) == -(-X.shape[-1] // 5)
    torch.testing.assert_close(run().estimates, whole.estimates, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="block_frames"):
        run(block_frames=0)


@pytest.mark.parametrize("block_frames", [None, 7])
def test_overwrite_mix_writes_the_estimates_in_place(room, block_frames):
    """``overwrite_mix``: the same estimates, objective and demixing, and no copy of the STFT (the
    estimates are the input tensor itself); a mixture in another dtype is still copied."""
    X = stft(torch.from_numpy(room(2, 0.3, seconds=2.0)[0]).double()[None], StftConfig(512, 256))
    run = lambda mix, **kw: separate(
        mix, NMF(seed=0), n_iter=4, dtype=torch.complex128, block_frames=block_frames, **kw
    )
    reference = run(X)
    mix = X.clone()
    ours = run(mix, overwrite_mix=True)
    assert ours.estimates.data_ptr() == mix.data_ptr()
    torch.testing.assert_close(ours.estimates, reference.estimates, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(ours.objective, reference.objective, rtol=1e-12, atol=1e-9)
    torch.testing.assert_close(ours.demix, reference.demix)
    single = X.to(torch.complex64)
    copied = separate(single, NMF(seed=0), n_iter=2, dtype=torch.complex128, overwrite_mix=True)
    assert torch.equal(single, X.to(torch.complex64)) and copied.estimates.data_ptr() != single.data_ptr()


@pytest.mark.parametrize("update, block_frames", [("ip1", None), ("ip1", 7), ("iss", None)])
def test_pooled_power_gives_the_per_frequency_computation(room, update, block_frames):
    """AuxIVA's Laplace model sees only sum_f |y|^2 (one product over all frequencies): the same
    estimates and J as when the engine forms every frequency's power."""

    class PerFrequencyLaplace(LaplaceIVA):
        pooled = False

    X = stft(torch.from_numpy(room(3, 0.3, seconds=2.0)[0]).double()[None], StftConfig(512, 256))
    run = lambda model: separate(X, model, n_iter=4, update=update, dtype=torch.complex128, block_frames=block_frames)
    pooled, per_frequency = run(LaplaceIVA()), run(PerFrequencyLaplace())
    torch.testing.assert_close(pooled.estimates, per_frequency.estimates, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(pooled.objective, per_frequency.objective, rtol=1e-12, atol=1e-9)


def test_untracked_objective_changes_nothing_else(room):
    """``track_objective=False``: the same estimates, J before the first and after the last
    iteration only (NaN between)."""
    X = stft(torch.from_numpy(room(2, 0.3, seconds=2.0)[0]).double()[None], StftConfig(512, 256))
    run = lambda **kw: separate(X, NMF(seed=0), n_iter=4, dtype=torch.complex128, **kw)
    tracked, untracked = run(), run(track_objective=False)
    torch.testing.assert_close(untracked.estimates, tracked.estimates, rtol=0, atol=0)
    assert torch.isnan(untracked.objective[1:-1]).all()
    torch.testing.assert_close(untracked.objective[[0, -1]], tracked.objective[[0, -1]], rtol=0, atol=0)
