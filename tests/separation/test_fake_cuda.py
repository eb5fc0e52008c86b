"""The GPU path without a GPU: the engine and the separators' cores on fake CUDA tensors.

``FakeTensorMode`` raises on any operation mixing ``cuda:0`` and ``cpu`` tensors, so a tensor
created on the wrong device anywhere in these paths fails the test. Not covered here:
autograd on fake CUDA tensors (MVAE's Adam steps, training steps) needs a CUDA context that
a machine without a GPU cannot create (``hasPrimaryContext`` fails); ``benchmarks/`` runs
those on a real GPU.
"""

import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode

from asteroid_mvae.networks import ACVAE, ChimeraACVAE
from asteroid_mvae.separation import NMF, GaussIVA, LaplaceIVA, separate
from asteroid_mvae.separation.deep import ACVAESource, ChimeraSource

N_FREQ = 64


@pytest.fixture(autouse=True)
def fresh_layout_cache():
    """``hermitian_layout`` caches index tensors per device: fake ones must not outlive their mode."""
    from asteroid_mvae.separation.spatial import hermitian_layout

    hermitian_layout.cache_clear()
    yield
    hermitian_layout.cache_clear()


def _fake_cuda_mixture(n_src):
    return torch.randn(2, n_src, N_FREQ + 1, 24, dtype=torch.complex64, device="cuda")


def _on_cuda(result):
    for tensor in (result.estimates, result.demix, result.objective):
        assert tensor.device.type == "cuda", tensor.device


@pytest.mark.parametrize("n_src", [2, 3])
@pytest.mark.parametrize("update", ["ip1", "ip2", "iss"])
@pytest.mark.parametrize("model", ["laplace", "gauss", "nmf"])
def test_engine_stays_on_the_gpu(n_src, update, model):
    if update == "ip2" and n_src != 2:
        pytest.skip("ip2 is the N = 2 update")
    with FakeTensorMode():
        source_model = {"laplace": LaplaceIVA, "gauss": GaussIVA, "nmf": lambda: NMF(n_basis=2, seed=0)}[model]()
        _on_cuda(separate(_fake_cuda_mixture(n_src), source_model, n_iter=2, update=update))


@pytest.mark.parametrize("model", ["laplace", "nmf"])
def test_frame_blocks_of_long_recordings_stay_on_the_gpu(model):
    """Blocks of frames, estimates written into the mixture, J after the last iteration only."""
    with FakeTensorMode():
        source_model = {"laplace": LaplaceIVA, "nmf": lambda: NMF(n_basis=2, seed=0)}[model]()
        _on_cuda(separate(_fake_cuda_mixture(3), source_model, n_iter=2, block_frames=3))
        source_model = {"laplace": LaplaceIVA, "nmf": lambda: NMF(n_basis=2, seed=0)}[model]()
        _on_cuda(
            separate(
                _fake_cuda_mixture(3), source_model, n_iter=2, block_frames=3, overwrite_mix=True, track_objective=False
            )
        )


@pytest.mark.parametrize("n_src", [2, 3])
@pytest.mark.parametrize("source", ["acvae", "acvae_per_source", "chimera"])
def test_network_source_models_stay_on_the_gpu(n_src, source):
    with FakeTensorMode(), torch.no_grad():
        with torch.device("cuda"):  # parameters created as fake CUDA tensors
            network = (ChimeraACVAE if source == "chimera" else ACVAE)(3, N_FREQ).eval()
        model = (
            ChimeraSource(network)
            if source == "chimera"
            else ACVAESource(network, bn_mode="per_source" if source.endswith("per_source") else "running")
        )
        _on_cuda(separate(_fake_cuda_mixture(n_src), model, n_iter=2))


@pytest.mark.parametrize("name", ["auxiva", "ilrma", "fastmvae", "fastmvae2"])
def test_separator_cores_stay_on_the_gpu(name):
    """Each model's own source model and initial demixing (its forward_wav between STFT and iSTFT)."""
    from asteroid_mvae.models import load_model

    with FakeTensorMode(), torch.no_grad():
        with torch.device("cuda"):
            model = load_model(
                name,
                allow_untrained=True,
                n_src=2,
                n_iter=2,
                n_fft=2 * N_FREQ,
                hop_length=N_FREQ,
                **({"n_labels": 3, "n_freq": N_FREQ} if name.startswith("fast") else {}),
            ).eval()
        X = _fake_cuda_mixture(2)
        _on_cuda(
            separate(X, model.make_source_model(), n_iter=model.n_iter, update=model.update, W0=model.initial_demix(X))
        )
