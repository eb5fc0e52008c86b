"""OverIVA: every microphone when there are more microphones (M) than sources (N), for every source model."""

import numpy as np
import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode

from asteroid_mvae.models import load_model
from asteroid_mvae.models.oracle import OracleIP
from asteroid_mvae.separation import (
    NMF,
    FixedVariance,
    GaussIVA,
    LaplaceIVA,
    StftConfig,
    overiva,
    separate,
    spatial,
    stft,
)

pytestmark = pytest.mark.usefixtures("single_thread")

SOURCE_MODELS = {"laplace": LaplaceIVA, "gauss": GaussIVA, "nmf": lambda: NMF(n_basis=2, seed=0)}


def _room_stft(room, n_mics=4, seconds=3.0, seed=0, n_fft=512):
    mixture, references = room(2, 0.3, seconds=seconds, seed=seed, n_mics=n_mics)
    X = stft(torch.from_numpy(mixture).double()[None], StftConfig(n_fft, n_fft // 2))
    return X, mixture, references


def _random_covariance(B, F, M, T=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(B, F, M, T, dtype=torch.complex128, generator=g)
    return X @ X.mH / T


def test_background_rows_are_orthogonal_to_the_sources():
    C = _random_covariance(2, 3, 5)
    W = torch.randn(2, 3, 2, 5, dtype=torch.complex128, generator=torch.Generator().manual_seed(1))
    J = overiva.background_rows(W, C)
    assert J.shape == (2, 3, 3, 5)
    assert torch.allclose(W @ C @ J.mH, torch.zeros(2, 3, 2, 3, dtype=torch.complex128), atol=1e-10)


def test_profile_objective_is_the_minimum_over_the_background():
    """The engine's J for N < M: the negative log-likelihood with the background rows at their
    optimum; any other background (perturbed, or another basis of the subspace) is not lower."""
    B, F, M, N, T = 1, 4, 4, 2, 7.0
    C = _random_covariance(B, F, M)
    W = torch.randn(B, F, N, M, dtype=torch.complex128, generator=torch.Generator().manual_seed(2))

    def explicit(J):  # -2T sum_f log|det [W; J]| + T sum_f tr(J C J^H)  (source part left out)
        full = torch.cat([W, J], dim=-2)
        trace = torch.diagonal(J @ C @ J.mH, dim1=-2, dim2=-1).real.sum((-1, -2))
        return -2 * T * torch.linalg.slogdet(full)[1].sum(-1) + T * trace

    profile = -2 * T * overiva.overdetermined_log_det(W, C) + T * F * (M - N)
    J0 = overiva.background_rows(W, C)
    L = torch.linalg.cholesky(J0 @ C @ J0.mH)
    J_opt = torch.linalg.solve_triangular(L, J0, upper=False)  # white background outputs
    assert torch.allclose(explicit(J_opt), profile, rtol=1e-10)
    g = torch.Generator().manual_seed(3)
    for _ in range(5):
        delta = torch.randn(J_opt.shape, dtype=torch.complex128, generator=g)
        assert bool((explicit(J_opt + 0.05 * delta) > profile).all())
    mixing = torch.randn(B, F, M - N, M - N, dtype=torch.complex128, generator=g)
    other = torch.cat([W, mixing @ J0], dim=-2)
    J_other_cov = (mixing @ J0) @ C @ (mixing @ J0).mH
    direct = torch.linalg.slogdet(other)[1].sum(-1) - 0.5 * torch.linalg.slogdet(J_other_cov)[1].sum(-1)
    assert torch.allclose(direct, overiva.overdetermined_log_det(W, C), rtol=1e-10)  # any basis J0: the same


@pytest.mark.parametrize("model", sorted(SOURCE_MODELS))
@pytest.mark.parametrize("update", ["ip1", "ip2"])
@pytest.mark.parametrize("n_src", [2, 3])
def test_objective_never_rises_in_float64(room, model, update, n_src):
    X, _, _ = _room_stft(room)
    result = separate(X, SOURCE_MODELS[model](), n_iter=25, n_src=n_src, update=update, dtype=torch.complex128)
    J = result.objective[:, 0]
    assert torch.isfinite(J).all()
    steps = J[1:] - J[:-1]
    assert float(steps.max()) <= 1e-9 * float(J.abs().max()), steps.max()
    assert float(J[-1]) < float(J[0])
    assert result.demix.shape == (1, X.shape[2], n_src, 4) and result.estimates.shape == (1, n_src, *X.shape[2:])


def test_frame_blocks_and_in_place_give_the_same_separation(room):
    X, _, _ = _room_stft(room)
    whole = separate(X, NMF(n_basis=2, seed=0), n_iter=5, n_src=2, dtype=torch.complex128)
    mix = X.clone()
    blocks = separate(
        mix, NMF(n_basis=2, seed=0), n_iter=5, n_src=2, dtype=torch.complex128, block_frames=7, overwrite_mix=True
    )
    assert torch.allclose(whole.estimates, blocks.estimates, rtol=1e-8, atol=1e-10)
    assert torch.allclose(whole.objective, blocks.objective, rtol=1e-9)


def test_callback_estimates_match_the_result(room):
    X, _, _ = _room_stft(room)
    states = []
    result = separate(X, LaplaceIVA(), n_iter=3, n_src=2, dtype=torch.complex128, callback=states.append)
    assert len(states) == 4
    assert torch.allclose(states[-1].estimates(0), result.estimates, rtol=1e-8, atol=1e-10)


def test_determined_call_is_unchanged(room):
    X, _, _ = _room_stft(room, n_mics=2)
    a = separate(X, LaplaceIVA(), n_iter=5, dtype=torch.complex128)
    b = separate(X, LaplaceIVA(), n_iter=5, dtype=torch.complex128, n_src=2)
    assert torch.equal(a.estimates, b.estimates)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n_src=2, update="iss"), "needs as many microphones as sources"),
        (dict(n_src=5), r"n_src must be an integer in \[1, 4\]"),
        (dict(n_src=2, W0=torch.zeros(1, 3, 4, 4, dtype=torch.complex64)), "W0 must be"),
    ],
)
def test_bad_options_are_named(kwargs, message):
    X = torch.randn(1, 4, 3, 20, dtype=torch.complex64)
    with pytest.raises(ValueError, match=message):
        separate(X, LaplaceIVA(), n_iter=1, **kwargs)


@pytest.mark.parametrize("name", ["auxiva", "ilrma"])
def test_four_microphones_separate_better_than_two(room, sisdri, name):
    """2 sources, 4 microphones on the 0.1 m circle, RT60 0.3 s: OverIVA with all 4 beats the
    same separator on 2 of them (measured: AuxIVA +0.96, +0.63, -0.18 dB, ILRMA well above)."""
    gains = []
    for seed in (0, 1, 2):
        mixture, references = room(2, 0.3, seconds=6.0, seed=seed, n_mics=4)
        wav = torch.from_numpy(mixture)
        four = sisdri(load_model(name, n_iter=60).forward_wav(wav), references, mixture[0])
        two = sisdri(load_model(name, n_iter=60).forward_wav(wav[:2]), references, mixture[0])
        gains.append(four - two)
    assert min(gains) > -0.5 and np.mean(gains) > 0.3, gains


@pytest.mark.parametrize("mics", ["all", "pca", "first"])
def test_model_microphone_options(room, mics):
    mixture, _ = room(2, 0.3, seconds=2.0, seed=0, n_mics=4)
    model = load_model("ilrma", n_iter=3, n_fft=512, hop_length=256, mics=mics)
    out = model.separate_with_history(torch.from_numpy(mixture))
    assert out.estimates.shape == (1, 2, mixture.shape[-1]) and torch.isfinite(out.estimates).all()
    assert out.result.demix.shape[-1] == {"all": 4, "pca": 2, "first": 2}[mics]
    assert model.uses_overiva(4) == (mics == "all")
    assert not load_model("ilrma", mics=mics, update="iss").uses_overiva(4)
    assert not load_model("ilrma", mics=mics, taps=2).uses_overiva(4)


def test_deep_and_oracle_separators_use_every_microphone(room):
    mixture, references = room(2, 0.3, seconds=2.0, seed=0, n_mics=3)
    wav = torch.from_numpy(mixture)[None]
    model = load_model(
        "fastmvae2",
        allow_untrained=True,
        n_src=2,
        n_iter=2,
        n_fft=512,
        hop_length=256,
        n_labels=3,
        n_freq=256,
        init_ilrma=2,
    )
    out = model.separate_with_history(wav)
    assert out.result.demix.shape == (1, 257, 2, 3) and torch.isfinite(out.estimates).all()
    oracle = OracleIP(n_src=2, n_iter=3, n_fft=512, hop_length=256)
    assert oracle.forward_wav(wav, torch.from_numpy(references)[None]).shape == (1, 2, mixture.shape[-1])


@pytest.fixture
def fresh_layout_cache():
    spatial.hermitian_layout.cache_clear()
    yield
    spatial.hermitian_layout.cache_clear()


@pytest.mark.usefixtures("fresh_layout_cache")
@pytest.mark.parametrize("update", ["ip1", "ip2"])
@pytest.mark.parametrize("model", sorted(SOURCE_MODELS))
def test_stays_on_the_gpu(update, model):
    """Fake CUDA tensors: any tensor made on the CPU in the OverIVA path fails (see test_fake_cuda)."""
    with FakeTensorMode():
        X = torch.randn(2, 4, 33, 24, dtype=torch.complex64, device="cuda")
        for options in (dict(), dict(block_frames=5, overwrite_mix=True, track_objective=False)):
            result = separate(X.clone(), SOURCE_MODELS[model](), n_iter=2, n_src=2, update=update, **options)
            for tensor in (result.estimates, result.demix, result.objective):
                assert tensor.device.type == "cuda"
        fixed = FixedVariance(torch.rand(2, 2, 33, 24, device="cuda"), 0.1)
        assert separate(X, fixed, n_iter=2, n_src=2).estimates.device.type == "cuda"


def test_wiener_post_filter_on_all_microphones_improves_the_separation(room, sisdri):
    """ILRMA at M = 4 (PCA to 2), then the multichannel Wiener filters its outputs imply on all 4
    microphones: better on average over 4 simulated rooms (measured: -0.44, -0.23, +1.26, +1.90 dB:
    it helps where the separation is poor and costs a little where it is already good)."""
    from asteroid_mvae.separation import istft
    from asteroid_mvae.separation.postfilter import multichannel_wiener

    cfg = StftConfig(2048, 1024)
    gains = []
    for seed in (0, 1, 2, 3):
        mixture, references = room(2, 0.3, seconds=6.0, seed=seed, n_mics=4)
        wav = torch.from_numpy(mixture)[None]
        estimates = load_model("ilrma", n_iter=60, mics="pca", postfilter="none")(wav)
        filtered = istft(multichannel_wiener(stft(wav, cfg), stft(estimates, cfg)), wav.shape[-1], cfg)
        gains.append(sisdri(filtered[0], references, mixture[0]) - sisdri(estimates[0], references, mixture[0]))
    assert min(gains) > -1.0 and np.mean(gains) > 0.3, gains


def test_post_filter_auto_is_on_only_with_more_microphones_than_sources():
    """``postfilter="auto"`` (the default) is ``"mwf"`` for M > N and off for M = N."""
    wav = torch.randn(1, 4, 16000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    default, mwf, none = (
        load_model("auxiva", n_iter=3, **extra) for extra in ({}, {"postfilter": "mwf"}, {"postfilter": "none"})
    )
    assert default.postfilter == "auto"
    torch.testing.assert_close(default(wav), mwf(wav))
    assert not torch.allclose(default(wav), none(wav))
    torch.testing.assert_close(default(wav[:, :2]), none(wav[:, :2]))


def test_wiener_post_filter_shapes_and_errors():
    from asteroid_mvae.separation.postfilter import multichannel_wiener

    X = torch.randn(2, 4, 9, 30, dtype=torch.complex128)
    S = torch.randn(2, 3, 9, 30, dtype=torch.complex128)
    whole = multichannel_wiener(X, S, ref_mic=1)
    assert whole.shape == (2, 3, 9, 30)
    assert torch.allclose(multichannel_wiener(X, S, ref_mic=1, block_frames=7), whole, rtol=1e-9, atol=1e-12)
    # the filters share the mixture among the sources: their sum is the loaded identity's ref row
    assert torch.allclose(whole.sum(1), X[:, 1], rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="ref_mic=4"):
        multichannel_wiener(X, S, ref_mic=4)
    with pytest.raises(ValueError, match="alike"):
        multichannel_wiener(X, S[..., :5])


@pytest.mark.usefixtures("fresh_layout_cache")
def test_wiener_post_filter_stays_on_the_gpu():
    from asteroid_mvae.separation.postfilter import multichannel_wiener

    with FakeTensorMode():
        X = torch.randn(2, 4, 33, 24, dtype=torch.complex64, device="cuda")
        S = torch.randn(2, 2, 33, 24, dtype=torch.complex64, device="cuda")
        assert multichannel_wiener(X, S, block_frames=5).device.type == "cuda"


@pytest.mark.parametrize("mics", ["all", "pca"])
def test_models_take_the_post_filter_as_an_option(room, mics):
    """``postfilter="mwf"``: the model's own estimates through :func:`multichannel_wiener`, and the
    option survives serialisation."""
    from asteroid_mvae.models.base import model_from_conf
    from asteroid_mvae.separation import istft
    from asteroid_mvae.separation.postfilter import multichannel_wiener

    mixture, _ = room(2, 0.3, seconds=2.0, seed=0, n_mics=4)
    wav = torch.from_numpy(mixture)[None]
    options = dict(n_iter=5, n_fft=512, hop_length=256, mics=mics)
    plain = load_model("ilrma", postfilter="none", **options).separate_with_history(wav)
    model = load_model("ilrma", postfilter="mwf", **options)
    filtered = model(wav)
    cfg = model.stft_config
    expected = istft(multichannel_wiener(stft(wav, cfg), plain.result.estimates), wav.shape[-1], cfg)
    assert float((filtered - expected).abs().max()) < 1e-4 * float(expected.abs().max())  # float32 rounding
    assert not torch.allclose(filtered, plain.estimates, atol=1e-3)
    assert model_from_conf(model.serialize()).postfilter == "mwf"
    with pytest.raises(ValueError, match="postfilter must be one of"):
        load_model("ilrma", postfilter="wiener")
