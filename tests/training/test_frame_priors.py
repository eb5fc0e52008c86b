"""Frame priors (GASS): networks, adversarial / VAE / DAE training through ``train()``, resume."""

import pytest
import torch
import torch.nn.functional as F

from asteroid_mvae.networks import FRAME_PRIORS, FrameGAN, FrameVAE, load_network_package, save_network_package
from asteroid_mvae.networks.frame_priors import LOG_POWER_FLOOR, log_power_of
from asteroid_mvae.training import make_config, train
from asteroid_mvae.training.frame_priors import wasserstein_estimate
from asteroid_mvae.training.presets import MODEL_DEFAULTS
from asteroid_mvae.training.run import MODELS

N_FREQ = 32
SMALL = {"n_freq": N_FREQ, "latent_dim": 8, "hidden": [64, 64]}


@pytest.fixture(scope="module")
def dataset(synthetic_speakers):
    return synthetic_speakers(n_speakers=3, items_per_speaker=12, n_freq=N_FREQ, frames=16)


def conf(tmp_path, model, steps, **trainer):
    return make_config(
        model,
        "paper",
        {
            "exp_dir": str(tmp_path / model),
            "network": SMALL,
            "seed": 0,
            "optim": {"batch_size": 6, "lr": 5e-4 if model == "wgan" else 1e-3},
            "data": {"val_fraction": 0.2},
            "trainer": {
                "max_steps": steps,
                "max_epochs": 10_000,
                "log_every_n_steps": 1,
                "enable_progress_bar": False,
                **trainer,
            },
        },
    )


def test_one_registry_of_model_names():
    assert set(MODEL_DEFAULTS) == set(MODELS)
    assert {"gan", "wgan", "frame_vae", "frame_dae"} <= set(MODELS)


@pytest.mark.parametrize("name", sorted(FRAME_PRIORS))
def test_frame_prior_shapes_label_dependence_and_package(tmp_path, name):
    torch.manual_seed(0)
    net = FRAME_PRIORS[name](n_labels=3, **SMALL)
    h, label = torch.randn(2, 8, 5), F.one_hot(torch.tensor([0, 2]), 3).float()
    log_power = net.decode(h, label)
    assert log_power.shape == (2, N_FREQ, 5) and bool((log_power >= LOG_POWER_FLOOR).all())
    other = net.decode(h, F.one_hot(torch.tensor([1, 1]), 3).float())
    assert not torch.allclose(log_power, other)  # the label conditions the generator
    assert torch.allclose(net.decode(h[:, :, 2:3], label)[..., 0], log_power[..., 2], atol=1e-6)  # frame by frame
    if isinstance(net, FrameGAN):
        assert net.critic(log_power, label).shape == (2, 5)
    else:
        mean, logvar = net.encode(torch.rand(2, N_FREQ, 5), label)
        assert mean.shape == logvar.shape == (2, 8, 5)
    with pytest.raises(ValueError, match="latent must be"):
        net.decode(torch.randn(2, 7, 5), label)
    path = save_network_package(tmp_path / "p.pt", net, 2.0, {"a": 0, "b": 1, "c": 2})
    loaded, package = load_network_package(path)
    assert type(loaded) is type(net) and package["network"] == name
    assert torch.equal(loaded.decode(h, label), log_power)


def test_wgan_training_lowers_a_fresh_critics_wasserstein_estimate(tmp_path, dataset):
    package_path = train(conf(tmp_path, "wgan", 600, limit_train_batches=5, check_val_every_n_epoch=20), dataset)
    trained, package = load_network_package(package_path)
    assert isinstance(trained, FrameGAN)
    assert "val_wasserstein" in package["training"]["final_metrics"]
    x = torch.stack([dataset[i][0] for i in range(len(dataset))]) / package["input_scale"]
    label = F.one_hot(torch.tensor(dataset.labels), 3).float()
    torch.manual_seed(0)
    untrained = FrameGAN(3, **SMALL)
    before = wasserstein_estimate(untrained, log_power_of(x), label, steps=300, lr=5e-4)
    after = wasserstein_estimate(trained, log_power_of(x), label, steps=300, lr=5e-4)
    assert after < 0.7 * before, (before, after)


@pytest.mark.parametrize("model", ["frame_vae", "frame_dae", "gan"])
def test_frame_prior_trainings_run_and_vae_dae_lower_their_nll(tmp_path, dataset, model):
    package_path = train(conf(tmp_path, model, 150, limit_train_batches=5, check_val_every_n_epoch=1), dataset)
    net, package = load_network_package(package_path)
    assert package["network"] == MODELS[model][0].network_name
    if model == "gan":
        assert "val_critic" in package["training"]["final_metrics"]
        return
    x = torch.stack([dataset[i][0] for i in range(len(dataset))]) / package["input_scale"]
    label = F.one_hot(torch.tensor(dataset.labels), 3).float()

    def nll(network):
        with torch.no_grad():
            return float(
                (
                    network.decode(network.encode(x, label)[0], label)
                    + x.pow(2) * torch.exp(-network.decode(network.encode(x, label)[0], label))
                ).mean()
            )

    torch.manual_seed(0)
    assert nll(net) < nll(FrameVAE(3, **SMALL)) - 0.5


def test_a_killed_and_resumed_wgan_training_equals_the_uninterrupted_one(tmp_path, dataset, monkeypatch):
    """Manual optimisation (two optimizers) resumes bit for bit from an epoch-end checkpoint."""
    from pytorch_lightning.callbacks import Callback

    from asteroid_mvae.training import run

    settings = dict(limit_train_batches=4, check_val_every_n_epoch=1)
    whole, whole_package = load_network_package(train(conf(tmp_path / "whole", "wgan", 40, **settings), dataset))

    def dying(desc):
        class Die(Callback):
            def on_train_batch_end(self, trainer, *args):
                if trainer.current_epoch == 5 and args[-1] == 1:
                    raise RuntimeError("killed")

        return Die()

    monkeypatch.setattr(run, "training_progress_callback", dying)
    with pytest.raises(RuntimeError, match="killed"):
        train(conf(tmp_path / "parts", "wgan", 40, **settings), dataset)
    monkeypatch.undo()
    parts, package = load_network_package(train(conf(tmp_path / "parts", "wgan", 40, **settings), dataset))
    assert package["training"]["steps"] == whole_package["training"]["steps"] > 0
    for key, value in whole.state_dict().items():
        assert torch.equal(value, parts.state_dict()[key]), key
