"""Joint dereverberation and separation (ILRMA-T, AuxIVA-T, T-ISS, deep models with a prediction filter)."""

import pytest
import torch

from asteroid_mvae.models import ILRMA, MVAE, AuxIVA, FastMVAE2
from asteroid_mvae.separation import NMF, GaussIVA, LaplaceIVA, StftConfig, separate, stft
from asteroid_mvae.separation.dereverb import (
    DEFAULT_DELAY,
    DEFAULT_TAPS,
    _separate_dereverb,
    separate_dereverb,
    stack_past,
)

pytestmark = pytest.mark.usefixtures("single_thread")

MODELS = {"laplace": LaplaceIVA, "gauss": GaussIVA, "nmf": lambda: NMF(n_basis=2, seed=0)}


def monotone(J):
    return bool(torch.all(J[1:] <= J[:-1] + 1e-9 * J[:-1].abs()))


@pytest.mark.parametrize("update", ["ip1", "ip2", "iss"])
@pytest.mark.parametrize("model", sorted(MODELS))
def test_objective_never_increases(room, model, update):
    """Every update is an exact minimisation over one block (IP on the Schur complement, T-ISS's
    rank-1 steps) and the source models are MM steps: J never rises (float64)."""
    X = stft(torch.from_numpy(room(2, 0.3, seconds=3.0)[0]).double()[None])
    result = separate_dereverb(X, MODELS[model](), n_iter=10, taps=4, delay=1, update=update, dtype=torch.complex128)
    J = result.objective[:, 0]
    assert torch.isfinite(J).all() and monotone(J), J
    assert J[-1] < J[0]
    assert result.demix.shape == (1, X.shape[2], 2, 2 * 5)


@pytest.mark.parametrize("update", ["ip1", "iss"])
def test_prediction_lowers_the_objective_below_the_plain_engine(room, update):
    """The plain demixing is the filter with zero prediction: after the same iterations the
    dereverberating filter reaches a lower J (the prediction takes the tail the source model
    cannot explain)."""
    X = stft(torch.from_numpy(room(2, 0.5, seconds=3.0)[0]).double()[None])
    run = lambda taps: separate_dereverb(
        X, NMF(seed=0), n_iter=20, taps=taps, delay=1, update=update, dtype=torch.complex128
    ).objective[-1, 0]
    assert run(4) < run(0)


@pytest.mark.parametrize("update", ["ip1", "ip2", "iss"])
def test_no_taps_is_the_engine(room, update):
    """taps = 0: the public function is the engine itself, and the dereverberation loop run without
    taps reproduces the engine's estimates and J (the same algorithm)."""
    X = stft(torch.from_numpy(room(2, 0.3, seconds=3.0)[0]).double()[None])
    plain = separate(X, NMF(seed=0), n_iter=6, update=update, dtype=torch.complex128)
    off = separate_dereverb(X, NMF(seed=0), n_iter=6, taps=0, update=update, dtype=torch.complex128)
    assert torch.equal(off.estimates, plain.estimates) and torch.equal(off.objective, plain.objective)
    loop = _separate_dereverb(
        X, NMF(seed=0), 6, 0, 1, update, True, 0, None, None, None, torch.complex128, None, 1e-10, 1, None, True
    )
    torch.testing.assert_close(loop.estimates, plain.estimates, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(loop.objective, plain.objective, rtol=1e-12, atol=1e-6)


@pytest.mark.parametrize("cls", [ILRMA, AuxIVA])
def test_separators_without_taps_are_unchanged(room, cls):
    mix = torch.from_numpy(room(2, 0.3, seconds=3.0)[0])
    assert torch.equal(cls(n_iter=8)(mix), cls(n_iter=8, taps=0, delay=3)(mix))
    model = cls(n_iter=8, taps=3, delay=2)
    assert (model.get_model_args()["taps"], model.get_model_args()["delay"]) == (3, 2)
    loaded = cls.from_pretrained(model.serialize())
    assert (loaded.taps, loaded.delay) == (3, 2)


@pytest.mark.parametrize("cls, gain", [(ILRMA, 2.0), (AuxIVA, 1.5)])
def test_dereverberation_improves_on_the_direct_path(direct_path_room, cls, gain, sisdri):
    """RT60 0.5 s, 2 sources, 2 microphones, 6 s: ILRMA-T and AuxIVA-T score better than their plain
    versions against the direct path plus 50 ms with the default prediction (measured +2.9 and +2.2 dB)."""
    mixture, direct = direct_path_room(2, 0.5)
    plain = cls()(torch.from_numpy(mixture))
    dereverberated = cls(taps=DEFAULT_TAPS, delay=DEFAULT_DELAY)(torch.from_numpy(mixture))
    assert torch.isfinite(dereverberated).all()
    before, after = (sisdri(est.numpy(), direct, mixture[0]) for est in (plain, dereverberated))
    assert after > before + gain, (before, after)


def test_callback_estimates_match_the_result(room):
    X = stft(torch.from_numpy(room(2, 0.3, seconds=3.0)[0]).double()[None])
    seen = []
    result = separate_dereverb(
        X,
        LaplaceIVA(),
        n_iter=3,
        taps=2,
        delay=1,
        dtype=torch.complex128,
        callback=lambda s: seen.append((s.iteration, s.estimates(1))),
    )
    assert [it for it, _ in seen] == [0, 1, 2, 3]
    again = separate_dereverb(X, LaplaceIVA(), n_iter=3, taps=2, delay=1, dtype=torch.complex128, ref_mic=1)
    torch.testing.assert_close(seen[-1][1], again.estimates, rtol=1e-9, atol=1e-9 * again.estimates.abs().max())
    Z = stack_past(X.transpose(1, 2), 2, 1)
    assert torch.equal(Z[..., :2, :], X.transpose(1, 2)) and torch.equal(Z[..., 2:4, 1:], X.transpose(1, 2)[..., :-1])
    assert not Z[..., 2:, 0].any() and not Z[..., 4:, :2].any()
    assert result.objective.shape == (4, 1)


def test_float32_runs_the_prediction_in_float64(room):
    """float32 Schur complements went indefinite (NaN): the iterations run in complex128 and the
    estimates come back in the requested dtype."""
    X = stft(torch.from_numpy(room(2, 0.5, seconds=3.0)[0])[None])
    single = separate_dereverb(X, NMF(seed=0), n_iter=5, taps=4, delay=1)
    double = separate_dereverb(X.to(torch.complex128), NMF(seed=0), n_iter=5, taps=4, delay=1)
    assert single.estimates.dtype == torch.complex64 and torch.isfinite(single.estimates).all()
    torch.testing.assert_close(
        single.estimates.to(torch.complex128), double.estimates, rtol=1e-4, atol=1e-5 * double.estimates.abs().max()
    )


@pytest.mark.parametrize("cls", [FastMVAE2, MVAE])
def test_deep_source_models_plug_in(room, cls):
    """FastMVAE2-T (monotone guard) and MVAE-T with a random network: finite estimates; the guarded
    FastMVAE2-T never raises J; MVAE-T starts from ILRMA-T's filters."""
    torch.manual_seed(0)
    kwargs = dict(n_labels=3, n_freq=256, n_fft=512, hop_length=256, n_iter=4, taps=3, delay=1, dtype="complex128")
    model = cls(**kwargs, monotone=True) if cls is FastMVAE2 else cls(**kwargs, n_steps=2, init_ilrma=3)
    out = model.separate_with_history(torch.from_numpy(room(2, 0.5, seconds=3.0)[0]).double())
    assert torch.isfinite(out.estimates).all() and out.result.demix.shape[-1] == 2 * 4
    J = out.result.objective[:, 0]
    assert torch.isfinite(J).all()
    if cls is FastMVAE2:
        assert monotone(J), J
    else:
        X = stft(torch.from_numpy(room(2, 0.5, seconds=3.0)[0]).double()[None], StftConfig(512, 256))
        assert model.initial_demix(X).shape == (1, 257, 2, 8)


def test_bad_prediction_settings_are_refused(room):
    X = stft(torch.from_numpy(room(2, 0.3, seconds=3.0)[0])[None])
    with pytest.raises(ValueError, match="taps"):
        separate_dereverb(X, NMF(), taps=-1)
    with pytest.raises(ValueError, match="delay"):
        separate_dereverb(X, NMF(), delay=0)
    with pytest.raises(ValueError, match="W0"):
        separate_dereverb(X, NMF(), taps=2, W0=torch.zeros(1, X.shape[2], 2, 5, dtype=torch.complex64))
    with pytest.raises(ValueError, match="ILRMA: taps"):
        ILRMA(taps=-2)
    with pytest.raises(ValueError, match="AuxIVA: delay"):
        AuxIVA(taps=2, delay=0)


@pytest.mark.parametrize(
    "update, model, block_frames", [("ip1", "nmf", None), ("ip2", "laplace", 3), ("iss", "gauss", None)]
)
def test_stays_on_the_gpu(update, model, block_frames):
    """Fake CUDA tensors: every tensor of the prediction path is made on the mixture's device."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    from asteroid_mvae.separation.spatial import hermitian_layout

    hermitian_layout.cache_clear()  # its index tensors are cached per device: no fake ones kept
    try:
        with FakeTensorMode():
            mix = torch.randn(2, 2, 33, 24, dtype=torch.complex64, device="cuda")
            result = separate_dereverb(mix, MODELS[model](), n_iter=2, taps=2, update=update, block_frames=block_frames)
            for tensor in (result.estimates, result.demix, result.objective):
                assert tensor.device.type == "cuda", tensor.device
    finally:
        hermitian_layout.cache_clear()
