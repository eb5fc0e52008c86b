"""Deep clustering: asteroid's loss on our embeddings and targets, k-means, a short Lightning
training that separates a simulated room, any number of clusters, serialisation."""

import pytest
import torch
from asteroid.losses import deep_clustering_loss

from asteroid_mvae.baselines import train_pit
from asteroid_mvae.baselines.deep_clustering import DeepClustering, build_deep_clustering, kmeans
from asteroid_mvae.evaluation import get_separator, si_sdr_improvement
from asteroid_mvae.evaluation.toy import ToyMixtureDataset


def test_loss_is_asteroids_on_the_dominant_source_targets():
    torch.manual_seed(0)
    model = build_deep_clustering(2, size="tiny")
    refs = torch.randn(2, 2, 4000) * torch.tensor([1.0, 0.3])[None, :, None]
    mix = refs.sum(1)
    spec = model.stft(mix)
    ref_spec = model.stft(refs.reshape(4, -1)).reshape(2, 2, *spec.shape[1:])
    expected = deep_clustering_loss(
        model.embed(spec), ref_spec.abs().argmax(1), binary_mask=model.active_bins(spec).reshape(2, -1, 1)
    ).mean()
    torch.testing.assert_close(model.loss(mix, refs), expected)
    # ideal embeddings (one-hot of the dominant source) have zero loss
    dominant = ref_spec.abs().argmax(1)
    ideal = torch.nn.functional.one_hot(dominant.reshape(2, -1), 2).float()
    assert float(deep_clustering_loss(ideal, dominant).abs().max()) < 1e-3


def test_kmeans_recovers_two_clusters():
    generator = torch.Generator().manual_seed(0)
    points = torch.cat([torch.randn(50, 3, generator=generator) + 5, torch.randn(60, 3, generator=generator) - 5])
    centroids = kmeans(points, 2, torch.ones(110), seed=1)
    assign = torch.cdist(points, centroids).argmin(1)
    assert len(set(assign[:50].tolist())) == 1 and len(set(assign[50:].tolist())) == 1
    assert assign[0] != assign[-1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    train = ToyMixtureDataset(n_mixtures=16, n_src=2, seconds=1.0, seed=100)
    config = {
        "model": "deep_clustering",
        "size": "tiny",
        "network": {"hidden": 64},
        "segment_seconds": 1.0,
        "seed": 0,
        "optim": {"batch_size": 4, "lr": 3e-3},
        "trainer": {
            "max_epochs": 1000,
            "max_steps": 120,
            "accelerator": "cpu",
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "log_every_n_steps": 10,
        },
    }
    torch.manual_seed(0)
    return train_pit(train, tmp_path_factory.mktemp("dc"), config)


def _mean_improvement(model, dataset):
    with torch.no_grad():
        return sum(
            si_sdr_improvement(x[0].numpy(), r.numpy(), model.forward_wav(x[None])[0].numpy()).mean()
            for x, r in (dataset[i] for i in range(len(dataset)))
        ) / len(dataset)


def test_trained_network_separates_unseen_rooms(trained):
    test = ToyMixtureDataset(n_mixtures=4, n_src=2, seconds=2.0, seed=7)
    torch.manual_seed(0)
    untrained = build_deep_clustering(2, size="tiny", hidden=64).eval()
    model = get_separator(str(trained)).eval()
    assert isinstance(model, DeepClustering)
    after, before = _mean_improvement(model, test), _mean_improvement(untrained, test)
    assert after > 0.5 and after > before + 1.5, (before, after)


def test_more_clusters_than_trained_and_multichannel_input(trained):
    model = get_separator(str(trained)).eval()
    model.n_src = 3  # trained on N = 2, clustered into 3
    mixture, _ = ToyMixtureDataset(n_mixtures=1, n_src=3, seconds=1.0, seed=3)[0]
    with torch.no_grad():
        out = model.forward_wav(mixture[None])  # [1, mics, time]: the reference microphone is used
    assert out.shape == (1, 3, mixture.shape[-1]) and torch.isfinite(out).all()
    torch.testing.assert_close(out.sum(1), model.forward_wav(mixture[None, :1]).sum(1))  # binary masks partition


def test_serialisation_round_trip(tmp_path):
    model = build_deep_clustering(2, size="tiny").eval()
    torch.save(model.serialize(), tmp_path / "dc.pth")
    loaded = get_separator(str(tmp_path / "dc.pth")).eval()
    wav = torch.randn(1, 8000)
    torch.testing.assert_close(loaded.forward_wav(wav), model.forward_wav(wav))
