"""pyroomacoustics wrappers separate a tiny room; PIT baselines train (loss goes down), resume and reload."""

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
    config = {
        "model": name,
        "segment_seconds": 0.5,
        "seed": 0,
        "optim": {"batch_size": 2, "lr": 3e-3},
        "trainer": {
            "max_epochs": 1000,
            "max_steps": 10,
            "accelerator": "cpu",
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "log_every_n_steps": 5,
        },
    }
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


@pytest.mark.parametrize("interruption", ["kill", "max_steps"])
@pytest.mark.parametrize("validation", [False, True])
def test_a_killed_and_resumed_pit_training_equals_the_uninterrupted_one(
    tmp_path, monkeypatch, interruption, validation
):
    """Interrupted at step 3 of 6 (2-batch epochs: mid-epoch) and resumed: the same weights and
    the same best model. "kill": the process dies after step 3 (the last checkpoint is the end of
    epoch 1); "max_steps": a run with a smaller budget, continued with a larger one."""
    from asteroid_mvae.baselines import training

    dataset = ToyMixtureDataset(n_mixtures=4, n_src=2, seconds=1.0, seed=11)
    valid = ToyMixtureDataset(n_mixtures=1, n_src=2, seconds=1.0, seed=12) if validation else None
    config = {
        "model": "convtasnet",
        "segment_seconds": 0.5,
        "seed": 0,
        "optim": {"batch_size": 2, "lr": 3e-3},
        "trainer": {
            "max_epochs": 1000,
            "max_steps": 6,
            "accelerator": "cpu",
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "log_every_n_steps": 1,
        },
    }
    whole = torch.load(train_pit(dataset, tmp_path / "whole", config, valid), map_location="cpu")
    if interruption == "kill":
        original = training.exact_resume_callback

        def dying(seed):
            callback = original(seed)
            finish = callback.on_train_batch_end

            def on_train_batch_end(trainer, *args):
                finish(trainer, *args)
                if trainer.global_step == 3:
                    raise RuntimeError("killed")

            callback.on_train_batch_end = on_train_batch_end
            return callback

        monkeypatch.setattr(training, "exact_resume_callback", dying)
        with pytest.raises(RuntimeError, match="killed"):
            train_pit(dataset, tmp_path / "parts", config, valid)
        monkeypatch.setattr(training, "exact_resume_callback", original)
    else:
        train_pit(dataset, tmp_path / "parts", {**config, "trainer": {**config["trainer"], "max_steps": 3}}, valid)
    parts = torch.load(train_pit(dataset, tmp_path / "parts", config, valid), map_location="cpu")
    assert parts["training"]["steps"] == 6
    for key, value in whole["state_dict"].items():
        assert torch.equal(value, parts["state_dict"][key]), key
