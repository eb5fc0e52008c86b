"""Inputs at the edge of the models: silent bins, collapsed outputs, dead or duplicated microphones.

Each gives finite estimates (or a clear ``ValueError``), never a linear-algebra traceback.
"""

import logging

import pytest
import torch

from asteroid_mvae.models import load_model
from asteroid_mvae.separation import NMF, cpu_kernels

pytestmark = pytest.mark.usefixtures("single_thread")


def _noise(n_mics, samples, seed=0):
    return torch.randn(1, n_mics, samples, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("fused", [True, False])
def test_nmf_update_stays_finite_where_factors_sit_at_their_floor(monkeypatch, fused):
    """Both factors at ``eps = 1e-10``: ``r = 2e-20`` and ``1 / r^2`` overflows float32; a silent bin
    (``|y|^2 = 0``) then gave ``inf * 0 = nan`` (ILRMA's IP2 on 1 s of noise crashed on it)."""
    if not fused:
        monkeypatch.setattr(cpu_kernels, "applies_to_nmf", lambda *a: False)
    power = torch.rand(1, 2, 5, 7, generator=torch.Generator().manual_seed(0))
    power[..., 2, :] = 0.0  # a silent bin
    model = NMF(n_basis=2, seed=0)
    model.reset(power)
    model.basis[..., 2, :] = model.eps
    model.activation[..., :3] = model.eps
    r = model.update(power)
    assert torch.isfinite(r).all() and torch.isfinite(model.basis).all() and torch.isfinite(model.activation).all()


@pytest.mark.parametrize("update", ["ip1", "ip2", "iss"])
def test_ilrma_on_one_second_of_noise_is_finite(update):
    """16 frames of white noise: one output of ILRMA collapses in some bins (its variance goes to the
    floor); the pairwise update keeps a bin's rows where its 2 x 2 problem degenerates."""
    estimates = load_model("ilrma", n_src=2, n_iter=60, update=update)(_noise(2, 16000))
    assert torch.isfinite(estimates).all()


@pytest.mark.parametrize("name", ["auxiva", "ilrma"])
@pytest.mark.parametrize("update", ["ip1", "ip2"])
@pytest.mark.parametrize("fault", ["dead", "duplicate"])
def test_dead_or_duplicated_microphone_falls_back_to_pca(room, caplog, name, update, fault):
    """4 microphones for 2 sources, one of them silent or a copy of another: OverIVA's background
    subspace does not exist, so ``mics="all"`` separates as ``mics="pca"`` does, with a warning."""
    mixture, _ = room(2, 0.3, seconds=2.0, seed=0, n_mics=4)
    wav = torch.from_numpy(mixture).clone()
    wav[2] = 0.0 if fault == "dead" else wav[0]
    options = dict(n_src=2, n_iter=10, n_fft=512, hop_length=256, update=update)
    with caplog.at_level(logging.WARNING):
        every = load_model(name, mics="all", **options)(wav)
    assert "reduced to 2 by PCA" in caplog.text
    pca = load_model(name, mics="pca", **options)(wav)
    assert torch.isfinite(every).all()
    torch.testing.assert_close(every, pca)


def test_short_input_with_prediction_and_more_microphones_is_finite():
    """5 frames, 3 prediction taps, 4 microphones for 2 sources (PCA, then the least-squares images
    and the post-filter): singular bins give zeros, not a failed solve."""
    model = load_model("auxiva", n_src=2, n_iter=30, update="ip2", taps=3, contrast="gauss")
    assert torch.isfinite(model(_noise(4, 5000))).all()
