"""pyroomacoustics wrappers separate a tiny room; PIT baselines train (loss goes down), resume and reload."""
import numpy as np
import pytest
import torch
from asteroid.losses import PITLossWrapper, pairwise_neg_sisdr

from asteroid_mvae.baselines import PraSeparator, ReferenceChannelDataset, SepFormer, build_pit_model, train_pit
from asteroid_mvae.evaluation import get_separator, si_sdr_improvement
from asteroid_mvae.evaluation.toy import ToyMixtureDataset


@pytest.fixture(scope="module")
def room():
    return ToyMixtureDataset(n_mixtures=1, n_src=2, seconds=2.0, seed=5)


@pytest.mark.parametrize("method", ["auxiva", "ilrma", "fastmnmf2"])
def test_pyroomacoustics_separators_improve_si_sdr(room, method):
    mixture, references = room[0]
    separator = PraSeparator(method, n_iter=30, n_fft=512, hop_length=256)
    estimates = separator.forward_wav(mixture[None])
    assert estimates.shape == (1, 2, mixture.shape[-1])
    improvement = si_sdr_improvement(mixture[0].numpy(), references.numpy(), estimates[0].numpy())
    assert improvement.mean() > 3.0, improvement


def test_pyroomacoustics_separator_errors():
    with pytest.raises(ValueError, match="Unknown pyroomacoustics method"):
        PraSeparator("nmf")
    with pytest.raises(ValueError, match="multichannel"):
        PraSeparator("auxiva").forward_wav(torch.zeros(1, 1, 4096))


def test_sepformer_shapes_and_serialisation(tmp_path):
    model = build_pit_model("sepformer", n_src=3, size="tiny")
    wav = torch.randn(2, 3001)
    out = model(wav)
    assert out.shape == (2, 3, 3001)
    torch.save(model.serialize(), tmp_path / "m.pth")
    loaded = get_separator(str(tmp_path / "m.pth"))
    assert isinstance(loaded, SepFormer) and loaded.single_channel
    torch.testing.assert_close(loaded(wav), model.eval()(wav))


def _pit_loss(model, dataset):
    loss = PITLossWrapper(pairwise_neg_sisdr, pit_from="pw_mtx")
    data = ReferenceChannelDataset(dataset, segment=8000, random_crop=False)
    mix = torch.stack([data[i][0] for i in range(len(data))])
    refs = torch.stack([data[i][1] for i in range(len(data))])
    with torch.no_grad():
        return float(loss(model.eval()(mix), refs))


@pytest.mark.parametrize("name", ["convtasnet", "dprnn", "sepformer"])
def test_pit_training_lowers_the_loss_and_resumes(tmp_path, name):
    dataset = ToyMixtureDataset(n_mixtures=2, n_src=2, seconds=1.0, seed=11)
    config = {"model": name, "segment_seconds": 0.5, "seed": 0,
              "optim": {"batch_size": 2, "lr": 3e-3},
              "trainer": {"max_epochs": 1000, "max_steps": 10, "accelerator": "cpu", "enable_progress_bar": False,
                          "enable_model_summary": False, "log_every_n_steps": 5}}
    torch.manual_seed(0)
    initial = build_pit_model(name, size="tiny")
    torch.manual_seed(0)
    path = train_pit(dataset, tmp_path, config)
    trained = get_separator(str(path))
    assert _pit_loss(trained, dataset) < _pit_loss(initial, dataset) - 0.5
    package = torch.load(path, map_location="cpu")
    assert package["training"]["steps"] == 10
    # rerun with a larger budget resumes from last.ckpt instead of restarting
    config["trainer"]["max_steps"] = 12
    package = torch.load(train_pit(dataset, tmp_path, config), map_location="cpu")
    assert package["training"]["steps"] == 12
    assert (tmp_path / "logs").is_dir() and (tmp_path / "config.yml").exists()
